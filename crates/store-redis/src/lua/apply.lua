-- Applies one chunk of repository events (likes, posts, account
-- deletions and statuses), in order, atomically (see KEYS.md).
--
-- KEYS[1]   the like log's chunks   {P}:like-chunks
-- KEYS[2]   the store's counters    {P}:state
-- KEYS[3]   the numbered changes    {P}:changes
-- KEYS[4]   the like tombstones by time  {P}:tombstones
-- KEYS[5]   the account deletions by time  {P}:deleted-accounts
-- KEYS[6]   the post log            {P}:posts
-- KEYS[7]   the post tombstones by time  {P}:post-tombstones
-- KEYS[8]   the account statuses by time  {P}:account-statuses
-- KEYS[9]   when each like chunk is due for pruning  {P}:like-chunks-due
-- KEYS[10..] the DID states         {P}:did:DID, one per DID of the chunk
-- ARGV[1]   how many changes to keep
-- ARGV[2]   the prefix of like chunk keys, {P}:likes:
-- ARGV[3]   the prefix of their dead-record bitmaps, {P}:likes-dead:
-- ARGV[4]   how many DIDs the chunk has, m
-- ARGV[5 .. 4+m]  the DIDs, in the order of their keys
-- ARGV[5+m ..]    the events, one after the other, each naming its DID by
--                 its number j (1..m):
--             'c', j, rkey, T20, like record   a like create (the record
--                                             as `like_log::encode_one`
--                                             writes it, numbered 0)
--             'd', j, rkey, T20               a like delete
--             'p', j, rkey, T20, log member   a post create (the member's
--                                             value is the stored post)
--             'q', j, rkey, T20               a post delete
--             'a', j, T20                     an account deletion
--             's', j, T20, 'h' | 'a'          an account status event:
--                                             inactive (hidden) or active
--             'm', j, rkey, T20, like record, member
--                                             a like of schema 1's log
--                                             (its member) moved to the
--                                             chunks, its newest time
--                                             kept (the migration's op)
-- Times are 20-digit strings: comparing them as strings compares every
-- u64 exactly. An event stamped before the prune horizon
-- (`pruned_before` in {P}:state) is stale. Likes and posts follow the
-- same rules, each in a collection of its own (its own hash fields and
-- tombstone index); a like lives in the like log's chunks, a post in the
-- post log; an account deletion covers both.
--
-- An account's status is the DID state field 's' (T20 ‖ 'h' or 'a') and
-- the member T20 ‖ flag ‖ did of the status index; the rules are the
-- crate's: the newest event wins, inactive wins a tie, and the account's
-- deletion clears an older one.
--
-- Returns {created, duplicates, deleted, missing_deletes, stale,
-- accounts_deleted, likes_removed_by_account, posts_created,
-- posts_deleted, posts_removed_by_account, accounts_hidden,
-- accounts_revealed, migrated}.

local chunks, state, changes = KEYS[1], KEYS[2], KEYS[3]
local deleted_accounts, statuses, due = KEYS[5], KEYS[8], KEYS[9]
local chunk_prefix, dead_prefix = ARGV[2], ARGV[3]
local dids = tonumber(ARGV[4])
local horizon = redis.call('HGET', state, 'pruned_before')
-- The newest change's number (Lua numbers are exact far beyond it).
local seq = tonumber(redis.call('HGET', state, 'likes_version') or '0')
local first_seq = seq
local created, duplicates, deleted, missing, stale, accounts, removed = 0, 0, 0, 0, 0, 0, 0
local posts_created, posts_deleted, posts_removed = 0, 0, 0
local hidden_count, revealed_count = 0, 0
local live_delta = 0

-- A collection: its log, its tombstone index, and the prefixes of its
-- live and tombstone fields in the DID state.
local LIKES = {tombstones = KEYS[4], live = 'l:', tomb = 't:'}
local POSTS = {log = KEYS[6], tombstones = KEYS[7], live = 'p:', tomb = 'q:'}

-- What a create or a delete did.
local NEW, DUPLICATE, STALE, REMOVED, MISSING = 1, 2, 3, 4, 5

-- True when a deletion of the account (`account`) or of the key (`tomb`),
-- either possibly false, is at or after t.
local function deleted_since(account, tomb, t)
  return (account and account >= t) or (tomb and tomb >= t) or false
end

-- The value of a post log member: what follows its second field end
-- (the escaped DID and record key never hold the two bytes 00 01).
local function member_value(member)
  local did_end = string.find(member, '\0\1', 21, true)
  local rkey_end = string.find(member, '\0\1', did_end + 2, true)
  return string.sub(member, rkey_end + 2)
end

-- The like log: records appended to the head chunk, which is sealed
-- before it outgrows SEAL_BYTES (see KEYS.md, *The like log*): a sealed
-- chunk's string then fills one 256 KiB allocation of Redis's allocator
-- to the last few bytes. A chunk's meta is "first last max_us records
-- bytes".
local SEAL_BYTES = 262144 - 16
local head = tonumber(redis.call('HGET', state, 'like_head') or '0')
local head_meta = nil
local pending = {}
-- The oldest time of a record appended to the head in this call.
local head_due = nil

local function open_head()
  if head == 0 then
    head = 1
    redis.call('HSET', state, 'like_head', head)
  end
  local stored = redis.call('HGET', chunks, head)
  head_meta = {first = 0, last = 0, max_us = 0, records = 0, bytes = 0}
  if stored then
    local first, last, max_us, records, bytes = string.match(stored,
      '^(%d+) (%d+) (%d+) (%d+) (%d+)$')
    head_meta = {first = tonumber(first), last = tonumber(last), max_us = tonumber(max_us),
      records = tonumber(records), bytes = tonumber(bytes)}
  end
end

-- Writes what this call appended to the head chunk, with its meta.
local function flush()
  if #pending == 0 then
    return
  end
  redis.call('APPEND', chunk_prefix .. head, table.concat(pending))
  pending = {}
  local m = head_meta
  redis.call('HSET', chunks, head,
    string.format('%d %d %.0f %d %d', m.first, m.last, m.max_us, m.records, m.bytes))
  redis.call('ZADD', due, 'LT', head_due, head)
  head_due = nil
end

-- Seals the head chunk (its string rewritten at its size: APPEND leaves
-- room to grow) and opens the next.
local function seal()
  flush()
  local key = chunk_prefix .. head
  redis.call('SET', key, redis.call('GET', key))
  head = head + 1
  redis.call('HSET', state, 'like_head', head)
  head_meta = {first = 0, last = 0, max_us = 0, records = 0, bytes = 0}
end

-- Appends `record` (numbered 0) with the next number, logged at time t
-- (a number); returns its place: chunk, ordinal, offset, length.
local function append(record, t)
  if not head_meta then
    open_head()
  end
  if head_meta.bytes + #record > SEAL_BYTES and head_meta.records > 0 then
    seal()
  end
  seq = seq + 1
  local numbered = string.sub(record, 1, 1) .. struct.pack('<I8', seq) .. string.sub(record, 10)
  local m = head_meta
  local place = struct.pack('<I4I2I4I4', head, m.records, m.bytes, #numbered)
  pending[#pending + 1] = numbered
  if m.first == 0 then
    m.first = seq
  end
  m.last = seq
  m.records = m.records + 1
  m.bytes = m.bytes + #numbered
  if t > m.max_us then
    m.max_us = t
  end
  if not head_due or t < head_due then
    head_due = t
  end
  return place
end

-- Logs the removal of the live like at `place`, and marks its record
-- dead.
local function log_removal(place)
  local chunk, ordinal, offset, length = struct.unpack('<I4I2I4I4', place)
  if head_meta and chunk == head then
    flush()
  end
  local record = redis.call('GETRANGE', chunk_prefix .. chunk, offset, offset + length - 1)
  local kind = string.byte(record, 1)
  local t = struct.unpack('<I8', string.sub(record, 10, 17))
  -- Kind 2 (removed), the text flags kept.
  append(string.char(kind - kind % 16 + 2) .. string.sub(record, 2), t)
  redis.call('SETBIT', dead_prefix .. chunk, ordinal, 1)
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

-- A create of `rkey` in collection `c` at t, logged by `log(t)`, which
-- returns what the live field keeps after the time, if new: NEW,
-- DUPLICATE or STALE.
local function create(c, did, rkey, t, log)
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
  redis.call('HSET', did, field, t .. log(t))
  return NEW
end

-- A delete of `rkey` in collection `c` at t, the live record's place
-- (what its field keeps after the time) given to `unlog`: REMOVED and
-- that place, MISSING (never seen; the tombstone is recorded all the
-- same) or STALE.
local function delete(c, did, did_name, rkey, t, unlog)
  local field = c.live .. rkey
  local known = redis.call('HMGET', did, field, 'a', c.tomb .. rkey)
  local live = known[1]
  if live then
    if string.sub(live, 1, 20) <= t then
      local place = string.sub(live, 21)
      redis.call('HDEL', did, field)
      unlog(place)
      set_tombstone(c, did, did_name, rkey, known[3], t)
      return REMOVED, place
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
local EVENT_WIDTH = {c = 5, d = 4, p = 5, q = 4, a = 3, s = 4, m = 6}
local V1_LOG = string.sub(chunk_prefix, 1, -7) .. 'log'
local migrated = 0

-- How posts enter and leave their log. A post's field keeps its log
-- time, not its member (which holds the stored post): a DID hash stays a
-- listpack only while its values are short.
local function post_logger(member)
  return function()
    redis.call('ZADD', POSTS.log, 0, member)
    return string.sub(member, 1, 20)
  end
end

-- The post log member of `rkey` of DID `did_name` logged at `logged`
-- (T20), or false; `logged` may be the member itself, as stores before
-- the short fields wrote it.
local function post_member(did_name, rkey, logged)
  if #logged > 20 then
    return logged
  end
  local prefix = logged .. string.gsub(did_name, '%z', '\0\255') .. '\0\1'
    .. string.gsub(rkey, '%z', '\0\255') .. '\0\1'
  -- A stored post is JSON: its bytes are below FF.
  local found = redis.call('ZRANGE', POSTS.log, '[' .. prefix, '(' .. prefix .. '\255',
    'BYLEX', 'LIMIT', 0, 1)
  return found[1] or false
end

local function post_unlogger(did_name, rkey)
  return function(logged)
    local member = post_member(did_name, rkey, logged)
    if member then
      redis.call('ZREM', POSTS.log, member)
    end
  end
end

local i, argc = 5 + dids, #ARGV
while i <= argc do
  local j = tonumber(ARGV[i + 1])
  local op, did, did_name = ARGV[i], KEYS[9 + j], ARGV[4 + j]
  local width = EVENT_WIDTH[op]
  if not width then
    return redis.error_reply('feedmixer apply: unknown event op ' .. tostring(op))
  end
  -- The event's time follows its DID and, but for an account's events,
  -- its record key.
  local rkey = (op ~= 'a' and op ~= 's') and ARGV[i + 2] or nil
  local at = rkey and ARGV[i + 3] or ARGV[i + 2]
  if op == 'm' then
    local record, member = ARGV[i + 4], ARGV[i + 5]
    local live = redis.call('HGET', did, 'l:' .. rkey)
    if live and string.sub(live, 21) == member then
      redis.call('HSET', did, 'l:' .. rkey, string.sub(live, 1, 20) .. append(record, tonumber(at)))
      live_delta = live_delta + 1
    end
    redis.call('ZREM', V1_LOG, member)
    redis.call('HDEL', did, 'n')
    migrated = migrated + 1
  elseif horizon and at < horizon then
    stale = stale + 1
  elseif op == 'c' then
    local record = ARGV[i + 4]
    local outcome = create(LIKES, did, rkey, at, function(t) return append(record, tonumber(t)) end)
    if outcome == NEW then
      live_delta = live_delta + 1
      created = created + 1
    elseif outcome == DUPLICATE then
      duplicates = duplicates + 1
    else
      stale = stale + 1
    end
  elseif op == 'd' then
    local outcome = delete(LIKES, did, did_name, rkey, at, log_removal)
    if outcome == REMOVED then
      live_delta = live_delta - 1
      deleted = deleted + 1
    elseif outcome == MISSING then
      missing = missing + 1
    else
      stale = stale + 1
    end
  elseif op == 'p' then
    local member = ARGV[i + 4]
    local outcome = create(POSTS, did, rkey, at, post_logger(member))
    if outcome == NEW then
      record_post(did_name, 'p+', rkey, at, member)
      posts_created = posts_created + 1
    elseif outcome == DUPLICATE then
      duplicates = duplicates + 1
    else
      stale = stale + 1
    end
  elseif op == 'q' then
    local outcome = delete(POSTS, did, did_name, rkey, at, post_unlogger(did_name, rkey))
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
        log_removal(like[2])
      end
      local gone = #doomed_likes
      live_delta = live_delta - gone
      -- The account's posts go without a change each: the one change
      -- after the likes' says they all do.
      for _, post in ipairs(doomed_posts) do
        redis.call('HDEL', did, post[1])
        post_unlogger(did_name, string.sub(post[1], 3))(post[2])
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

flush()
if live_delta ~= 0 then
  redis.call('HINCRBY', state, 'like_count', live_delta)
end
if seq ~= first_seq then
  redis.call('HSET', state, 'likes_version', string.format('%d', seq))
  -- The newest `kept` changes are kept: the like records stay in the log
  -- until pruned, the post changes beyond the bound are trimmed (at most
  -- `kept` of them are among the newest `kept` numbers). A follower from
  -- before them rebuilds.
  local kept = tonumber(ARGV[1])
  redis.call('XTRIM', changes, 'MAXLEN', kept)
  local from = tonumber(redis.call('HGET', state, 'changes_from') or '0')
  if seq - kept + 1 > from then
    redis.call('HSET', state, 'changes_from', string.format('%d', seq - kept + 1))
  end
end
return {created, duplicates, deleted, missing, stale, accounts, removed,
  posts_created, posts_deleted, posts_removed, hidden_count, revealed_count, migrated}
