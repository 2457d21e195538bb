-- Applies one chunk of like events, in order, atomically (see KEYS.md).
--
-- KEYS[1]   the like log            {P}:log
-- KEYS[2]   the store's counters    {P}:state
-- KEYS[3]   the numbered changes    {P}:changes
-- KEYS[4]   the tombstones by time  {P}:tombstones
-- KEYS[5]   the account deletions by time  {P}:deleted-accounts
-- KEYS[6..] the DID states          {P}:did:DID, one per DID of the chunk
-- ARGV[1]   how many changes to keep
-- ARGV[2]   how many DIDs the chunk has, m
-- ARGV[3 .. 2+m]  the DIDs, in the order of their keys
-- ARGV[3+m ..]    the events, one after the other, each naming its DID by
--                 its number j (1..m):
--             'c', j, rkey, T20, log member   a create
--             'd', j, rkey, T20               a delete
--             'a', j, T20                     an account deletion
-- Times are 20-digit strings: comparing them as strings compares every
-- u64 exactly. An event stamped before the prune horizon
-- (`pruned_before` in {P}:state) is stale.
--
-- Returns {created, duplicates, deleted, missing_deletes, stale,
-- accounts_deleted, likes_removed_by_account}.

local log, state, changes = KEYS[1], KEYS[2], KEYS[3]
local tombstones, deleted_accounts = KEYS[4], KEYS[5]
local dids = tonumber(ARGV[2])
local horizon = redis.call('HGET', state, 'pruned_before')
-- The newest change's number (Lua numbers are exact far beyond it).
local seq = tonumber(redis.call('HGET', state, 'likes_version') or '0')
local first_seq = seq
local created, duplicates, deleted, missing, stale, accounts, removed = 0, 0, 0, 0, 0, 0, 0
local likers = 0

-- True when a deletion of the account (`account`) or of the key (`tomb`),
-- either possibly false, is at or after t.
local function deleted_since(account, tomb, t)
  return (account and account >= t) or (tomb and tomb >= t) or false
end

-- Numbers a change to the live likes: the like of `member`, of DID
-- `did`, was added ('1') or removed ('0').
local function record(did, member, added)
  seq = seq + 1
  -- The subject follows the second field end: the escaped DID and record
  -- key never hold the two bytes 00 01.
  local did_end = string.find(member, '\0\1', 21, true)
  local rkey_end = string.find(member, '\0\1', did_end + 2, true)
  redis.call('XADD', changes, string.format('%d-0', seq), 'd', did,
    's', string.sub(member, rkey_end + 2), 't', string.sub(member, 1, 20), 'a', added)
end

-- Byte order (Lua's `<` on strings follows the server's locale).
local function bytes_less(x, y)
  for k = 1, math.min(#x, #y) do
    local a, b = string.byte(x, k), string.byte(y, k)
    if a ~= b then
      return a < b
    end
  end
  return #x < #y
end

-- Records the tombstone of `rkey` of DID `did_name` (key `did`) at t, and
-- moves its index entry from its `old` time (or false) to t.
local function set_tombstone(did, did_name, rkey, old, t)
  local tail = string.format('%010d', #did_name) .. did_name .. rkey
  if old then
    redis.call('ZREM', tombstones, old .. tail)
  end
  redis.call('HSET', did, 't:' .. rkey, t)
  redis.call('ZADD', tombstones, 0, t .. tail)
end

-- Records the deletion of account `did_name` (key `did`) at t, and moves
-- its index entry from its `old` time (or false) to t.
local function set_account_deleted(did, did_name, old, t)
  if old then
    redis.call('ZREM', deleted_accounts, old .. did_name)
  end
  redis.call('HSET', did, 'a', t)
  redis.call('ZADD', deleted_accounts, 0, t .. did_name)
end

-- Counts `count` live likes of the DID gone.
local function unlive(did, count)
  if redis.call('HINCRBY', did, 'n', -count) <= 0 then
    redis.call('HDEL', did, 'n')
    likers = likers - 1
  end
end

-- Arguments per event, by op.
local EVENT_WIDTH = {c = 5, d = 4, a = 3}

local i, argc = 3 + dids, #ARGV
while i <= argc do
  local j = tonumber(ARGV[i + 1])
  local op, did, did_name = ARGV[i], KEYS[5 + j], ARGV[2 + j]
  local width = EVENT_WIDTH[op]
  if not width then
    return redis.error_reply('feedmixer apply: unknown event op ' .. tostring(op))
  end
  -- The event's time follows its DID and, but for an account deletion,
  -- its record key.
  local at = (op == 'a') and ARGV[i + 2] or ARGV[i + 3]
  if horizon and at < horizon then
    stale = stale + 1
    i = i + width
  elseif op == 'c' then
    local rkey, t, member = ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
    i = i + 5
    local field = 'l:' .. rkey
    local known = redis.call('HMGET', did, 'a', 't:' .. rkey, field)
    local live = known[3]
    if deleted_since(known[1], known[2], t) then
      stale = stale + 1
    elseif live then
      -- A duplicate: the first create stays, the newest time moves.
      if t > string.sub(live, 1, 20) then
        redis.call('HSET', did, field, t .. string.sub(live, 21))
      end
      duplicates = duplicates + 1
    else
      redis.call('HSET', did, field, t .. member)
      redis.call('ZADD', log, 0, member)
      record(did_name, member, '1')
      if redis.call('HINCRBY', did, 'n', 1) == 1 then
        likers = likers + 1
      end
      created = created + 1
    end
  elseif op == 'd' then
    local rkey, t = ARGV[i + 2], ARGV[i + 3]
    i = i + 4
    local field = 'l:' .. rkey
    local known = redis.call('HMGET', did, field, 'a', 't:' .. rkey)
    local live = known[1]
    if live then
      if string.sub(live, 1, 20) <= t then
        redis.call('HDEL', did, field)
        redis.call('ZREM', log, string.sub(live, 21))
        record(did_name, string.sub(live, 21), '0')
        set_tombstone(did, did_name, rkey, known[3], t)
        unlive(did, 1)
        deleted = deleted + 1
      else
        -- The key was created again after this delete.
        stale = stale + 1
      end
    elseif deleted_since(known[2], known[3], t) then
      stale = stale + 1
    else
      set_tombstone(did, did_name, rkey, known[3], t)
      missing = missing + 1
    end
  elseif op == 'a' then
    local t = ARGV[i + 2]
    i = i + 3
    local account = redis.call('HGET', did, 'a')
    if account and account >= t then
      stale = stale + 1
    else
      set_account_deleted(did, did_name, account, t)
      local fields = redis.call('HGETALL', did)
      local doomed = {}
      for j = 1, #fields, 2 do
        local field, value = fields[j], fields[j + 1]
        if string.sub(field, 1, 2) == 'l:' and string.sub(value, 1, 20) <= t then
          doomed[#doomed + 1] = {field, string.sub(value, 21)}
        end
      end
      -- In record key order, as the embedded store removes them, so that
      -- both number the changes alike.
      table.sort(doomed, function(x, y) return bytes_less(x[1], y[1]) end)
      for _, like in ipairs(doomed) do
        redis.call('HDEL', did, like[1])
        redis.call('ZREM', log, like[2])
        record(did_name, like[2], '0')
      end
      local gone = #doomed
      if gone > 0 then
        unlive(did, gone)
      end
      accounts = accounts + 1
      removed = removed + gone
    end
  end
end

if likers ~= 0 then
  redis.call('HINCRBY', state, 'likers', likers)
end
if seq ~= first_seq then
  redis.call('HSET', state, 'likes_version', string.format('%d', seq))
  redis.call('XTRIM', changes, 'MAXLEN', ARGV[1])
end
return {created, duplicates, deleted, missing, stale, accounts, removed}
