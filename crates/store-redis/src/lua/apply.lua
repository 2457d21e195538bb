-- Applies one chunk of repository events (likes, posts, account
-- deletions and statuses), in order, atomically (see KEYS.md).
--
-- KEYS[1]   the like log            {P}:log
-- KEYS[2]   the store's counters    {P}:state
-- KEYS[3]   the numbered changes    {P}:changes
-- KEYS[4]   the like tombstones by time  {P}:tombstones
-- KEYS[5]   the account deletions by time  {P}:deleted-accounts
-- KEYS[6]   the post log            {P}:posts
-- KEYS[7]   the post tombstones by time  {P}:post-tombstones
-- KEYS[8]   the account statuses by time  {P}:account-statuses
-- KEYS[9..] the DID states          {P}:did:DID, one per DID of the chunk
-- ARGV[1]   how many changes to keep
-- ARGV[2]   how many DIDs the chunk has, m
-- ARGV[3 .. 2+m]  the DIDs, in the order of their keys
-- ARGV[3+m ..]    the events, one after the other, each naming its DID by
--                 its number j (1..m):
--             'c', j, rkey, T20, log member   a like create
--             'd', j, rkey, T20               a like delete
--             'p', j, rkey, T20, log member   a post create (the member's
--                                             value is the stored post)
--             'q', j, rkey, T20               a post delete
--             'a', j, T20                     an account deletion
--             's', j, T20, 'h' | 'a'          an account status event:
--                                             inactive (hidden) or active
-- Times are 20-digit strings: comparing them as strings compares every
-- u64 exactly. An event stamped before the prune horizon
-- (`pruned_before` in {P}:state) is stale. Likes and posts follow the
-- same rules, each in a collection of its own (its own log, hash fields
-- and tombstone index); an account deletion covers both.
--
-- An account's status is the DID state field 's' (T20 ‖ 'h' or 'a') and
-- the member T20 ‖ flag ‖ did of the status index; the rules are the
-- crate's: the newest event wins, inactive wins a tie, and the account's
-- deletion clears an older one.
--
-- Returns {created, duplicates, deleted, missing_deletes, stale,
-- accounts_deleted, likes_removed_by_account, posts_created,
-- posts_deleted, posts_removed_by_account, accounts_hidden,
-- accounts_revealed}.

local state, changes = KEYS[2], KEYS[3]
local deleted_accounts, statuses = KEYS[5], KEYS[8]
local dids = tonumber(ARGV[2])
local horizon = redis.call('HGET', state, 'pruned_before')
-- The newest change's number (Lua numbers are exact far beyond it).
local seq = tonumber(redis.call('HGET', state, 'likes_version') or '0')
local first_seq = seq
local created, duplicates, deleted, missing, stale, accounts, removed = 0, 0, 0, 0, 0, 0, 0
local posts_created, posts_deleted, posts_removed = 0, 0, 0
local hidden_count, revealed_count = 0, 0
local likers = 0

-- A collection: its log, its tombstone index, and the prefixes of its
-- live and tombstone fields in the DID state.
local LIKES = {log = KEYS[1], tombstones = KEYS[4], live = 'l:', tomb = 't:'}
local POSTS = {log = KEYS[6], tombstones = KEYS[7], live = 'p:', tomb = 'q:'}

-- What a create or a delete did.
local NEW, DUPLICATE, STALE, REMOVED, MISSING = 1, 2, 3, 4, 5

-- True when a deletion of the account (`account`) or of the key (`tomb`),
-- either possibly false, is at or after t.
local function deleted_since(account, tomb, t)
  return (account and account >= t) or (tomb and tomb >= t) or false
end

-- The value of a log member: what follows its second field end (the
-- escaped DID and record key never hold the two bytes 00 01).
local function member_value(member)
  local did_end = string.find(member, '\0\1', 21, true)
  local rkey_end = string.find(member, '\0\1', did_end + 2, true)
  return string.sub(member, rkey_end + 2)
end

-- Numbers a change to the live likes: the like of `member`, of DID
-- `did`, was added ('1') or removed ('0').
local function record_like(did, member, added)
  seq = seq + 1
  redis.call('XADD', changes, string.format('%d-0', seq), 'd', did,
    's', member_value(member), 't', string.sub(member, 1, 20), 'a', added)
end

-- Numbers a change to the posts: `kind` is 'p+' (the post of the log
-- member `member` entered the index), 'p-' (post `rkey` was deleted),
-- 'a-' (the account was deleted), 'h-' (the account became inactive) or
-- 'h+' (it is active again), `rkey` empty for the account's; t is the
-- event's time.
local function record_post(did, kind, rkey, t, member)
  seq = seq + 1
  local id = string.format('%d-0', seq)
  if member then
    redis.call('XADD', changes, id, 'k', kind, 'd', did, 'r', rkey, 't', t,
      'p', member_value(member))
  else
    redis.call('XADD', changes, id, 'k', kind, 'd', did, 'r', rkey, 't', t)
  end
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

-- Records the tombstone of `rkey` in collection `c` of DID `did_name`
-- (key `did`) at t, and moves its index entry from its `old` time (or
-- false) to t.
local function set_tombstone(c, did, did_name, rkey, old, t)
  local tail = string.format('%010d', #did_name) .. did_name .. rkey
  if old then
    redis.call('ZREM', c.tombstones, old .. tail)
  end
  redis.call('HSET', did, c.tomb .. rkey, t)
  redis.call('ZADD', c.tombstones, 0, t .. tail)
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

-- Removes the status of DID `did_name` (key `did`), `status` its field
-- value, from the status index.
local function unindex_status(did_name, status)
  redis.call('ZREM', statuses, string.sub(status, 1, 21) .. did_name)
end

-- A status event of DID `did_name` (key `did`) at t: 'h' hidden or 'a'
-- active. Returns the change kind ('h-', 'h+') or nil when stale.
local function set_status(did, did_name, t, flag)
  local known = redis.call('HMGET', did, 'a', 's')
  local account, status = known[1], known[2]
  local hidden = flag == 'h'
  local was_hidden = status and string.sub(status, 21, 21) == 'h'
  local newer
  if account and account >= t then
    newer = false
  elseif not status then
    newer = true
  else
    local at = string.sub(status, 1, 20)
    newer = t > at or (t == at and hidden and not was_hidden)
  end
  if not newer then
    return nil
  end
  if status then
    unindex_status(did_name, status)
  end
  redis.call('HSET', did, 's', t .. flag)
  redis.call('ZADD', statuses, 0, t .. flag .. did_name)
  if hidden and not was_hidden then
    return 'h-'
  elseif was_hidden and not hidden then
    return 'h+'
  end
  -- The same status as before (no status is active): only its time moves.
  return nil
end

-- Counts `count` live likes of the DID gone.
local function unlive(did, count)
  if redis.call('HINCRBY', did, 'n', -count) <= 0 then
    redis.call('HDEL', did, 'n')
    likers = likers - 1
  end
end

-- A create of `rkey` in collection `c` at t, logged as `member` if new:
-- NEW, DUPLICATE or STALE.
local function create(c, did, rkey, t, member)
  local field = c.live .. rkey
  local known = redis.call('HMGET', did, 'a', c.tomb .. rkey, field)
  local live = known[3]
  if deleted_since(known[1], known[2], t) then
    return STALE
  elseif live then
    -- A duplicate: the first create stays, the newest time moves.
    if t > string.sub(live, 1, 20) then
      redis.call('HSET', did, field, t .. string.sub(live, 21))
    end
    return DUPLICATE
  end
  redis.call('HSET', did, field, t .. member)
  redis.call('ZADD', c.log, 0, member)
  return NEW
end

-- A delete of `rkey` in collection `c` at t: REMOVED and the removed
-- record's log member, MISSING (never seen; the tombstone is recorded all
-- the same) or STALE.
local function delete(c, did, did_name, rkey, t)
  local field = c.live .. rkey
  local known = redis.call('HMGET', did, field, 'a', c.tomb .. rkey)
  local live = known[1]
  if live then
    if string.sub(live, 1, 20) <= t then
      local member = string.sub(live, 21)
      redis.call('HDEL', did, field)
      redis.call('ZREM', c.log, member)
      set_tombstone(c, did, did_name, rkey, known[3], t)
      return REMOVED, member
    end
    -- The key was created again after this delete.
    return STALE
  elseif deleted_since(known[2], known[3], t) then
    return STALE
  end
  set_tombstone(c, did, did_name, rkey, known[3], t)
  return MISSING
end

-- Arguments per event, by op.
local EVENT_WIDTH = {c = 5, d = 4, p = 5, q = 4, a = 3, s = 4}

local i, argc = 3 + dids, #ARGV
while i <= argc do
  local j = tonumber(ARGV[i + 1])
  local op, did, did_name = ARGV[i], KEYS[8 + j], ARGV[2 + j]
  local width = EVENT_WIDTH[op]
  if not width then
    return redis.error_reply('feedmixer apply: unknown event op ' .. tostring(op))
  end
  -- The event's time follows its DID and, but for an account's events,
  -- its record key.
  local rkey = (op ~= 'a' and op ~= 's') and ARGV[i + 2] or nil
  local at = rkey and ARGV[i + 3] or ARGV[i + 2]
  if horizon and at < horizon then
    stale = stale + 1
  elseif op == 'c' then
    local member = ARGV[i + 4]
    local outcome = create(LIKES, did, rkey, at, member)
    if outcome == NEW then
      record_like(did_name, member, '1')
      if redis.call('HINCRBY', did, 'n', 1) == 1 then
        likers = likers + 1
      end
      created = created + 1
    elseif outcome == DUPLICATE then
      duplicates = duplicates + 1
    else
      stale = stale + 1
    end
  elseif op == 'd' then
    local outcome, member = delete(LIKES, did, did_name, rkey, at)
    if outcome == REMOVED then
      record_like(did_name, member, '0')
      unlive(did, 1)
      deleted = deleted + 1
    elseif outcome == MISSING then
      missing = missing + 1
    else
      stale = stale + 1
    end
  elseif op == 'p' then
    local member = ARGV[i + 4]
    local outcome = create(POSTS, did, rkey, at, member)
    if outcome == NEW then
      record_post(did_name, 'p+', rkey, at, member)
      posts_created = posts_created + 1
    elseif outcome == DUPLICATE then
      duplicates = duplicates + 1
    else
      stale = stale + 1
    end
  elseif op == 'q' then
    local outcome = delete(POSTS, did, did_name, rkey, at)
    if outcome == STALE then
      stale = stale + 1
    else
      -- Deleted or never seen, the post must not be served.
      record_post(did_name, 'p-', rkey, at, false)
      if outcome == REMOVED then
        posts_deleted = posts_deleted + 1
      else
        missing = missing + 1
      end
    end
  elseif op == 's' then
    local kind = set_status(did, did_name, at, ARGV[i + 3])
    if kind == 'h-' then
      hidden_count = hidden_count + 1
    elseif kind == 'h+' then
      revealed_count = revealed_count + 1
    else
      stale = stale + 1
    end
    if kind then
      record_post(did_name, kind, '', at, false)
    end
  else
    local account = redis.call('HGET', did, 'a')
    if account and account >= at then
      stale = stale + 1
    else
      set_account_deleted(did, did_name, account, at)
      local fields = redis.call('HGETALL', did)
      local doomed_likes, doomed_posts = {}, {}
      for k = 1, #fields, 2 do
        local field, value = fields[k], fields[k + 1]
        local kind = string.sub(field, 1, 2)
        if (kind == 'l:' or kind == 'p:') and string.sub(value, 1, 20) <= at then
          local doomed = (kind == 'l:') and doomed_likes or doomed_posts
          doomed[#doomed + 1] = {field, string.sub(value, 21)}
        end
      end
      -- In record key order, as the embedded store removes them, so that
      -- both number the changes alike.
      table.sort(doomed_likes, function(x, y) return bytes_less(x[1], y[1]) end)
      for _, like in ipairs(doomed_likes) do
        redis.call('HDEL', did, like[1])
        redis.call('ZREM', LIKES.log, like[2])
        record_like(did_name, like[2], '0')
      end
      local gone = #doomed_likes
      if gone > 0 then
        unlive(did, gone)
      end
      -- The account's posts go without a change each: the one change
      -- after the likes' says they all do.
      for _, post in ipairs(doomed_posts) do
        redis.call('HDEL', did, post[1])
        redis.call('ZREM', POSTS.log, post[2])
      end
      -- Its status from before goes with it (a status event from before
      -- the deletion is stale by the deletion's time).
      local status = redis.call('HGET', did, 's')
      if status and string.sub(status, 1, 20) <= at then
        unindex_status(did_name, status)
        redis.call('HDEL', did, 's')
      end
      record_post(did_name, 'a-', '', at, false)
      accounts = accounts + 1
      removed = removed + gone
      posts_removed = posts_removed + #doomed_posts
    end
  end
  i = i + width
end

if likers ~= 0 then
  redis.call('HINCRBY', state, 'likers', likers)
end
if seq ~= first_seq then
  redis.call('HSET', state, 'likes_version', string.format('%d', seq))
  redis.call('XTRIM', changes, 'MAXLEN', ARGV[1])
end
return {created, duplicates, deleted, missing, stale, accounts, removed,
  posts_created, posts_deleted, posts_removed, hidden_count, revealed_count}
