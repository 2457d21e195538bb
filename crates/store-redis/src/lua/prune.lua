-- Prunes one chunk of what lies before the horizon, atomically (see
-- KEYS.md). The caller read the candidates just before; each is checked
-- again here, so a record or deletion a concurrent apply changed since is
-- left alone.
--
-- KEYS[1]   unused (the like log is pruned by prune_likes.lua)
-- KEYS[2]   the store's counters    {P}:state
-- KEYS[3]   the like tombstones by time  {P}:tombstones
-- KEYS[4]   the account deletions by time  {P}:deleted-accounts
-- KEYS[5]   the post log            {P}:posts
-- KEYS[6]   the post tombstones by time  {P}:post-tombstones
-- KEYS[7]   the account statuses by time  {P}:account-statuses
-- KEYS[8..] the DID states          {P}:did:DID, one per DID of the chunk
-- ARGV[1]   the horizon, T20; the store's moves to it unless it is later
-- ARGV[2]   how many DIDs the chunk has, m
-- ARGV[3 .. 2+m]  the DIDs, in the order of their keys
-- ARGV[3+m .. 7+m]  how many like tombstones, posts, post tombstones,
--                   account deletions and account statuses follow
-- then the like tombstones:    j, rkey, {P}:tombstones member
-- then the posts:              j, rkey, {P}:posts member
-- then the post tombstones:    j, rkey, {P}:post-tombstones member
-- then the account deletions:  j, {P}:deleted-accounts member
-- then the account statuses:   j, {P}:account-statuses member
-- (j: the DID's number, 1..m)
--
-- Returns {tombstones, posts, post tombstones, post tombstones replaced,
-- accounts, account statuses, more (1 or 0)}: `tombstones` counts those
-- of the arguments, `post tombstones replaced` those from before the
-- horizon that a pruned post's new one replaced.

local state, deleted_accounts, statuses = KEYS[2], KEYS[4], KEYS[7]
local horizon = ARGV[1]
local stored = redis.call('HGET', state, 'pruned_before')
if stored and stored >= horizon then
  horizon = stored
else
  redis.call('HSET', state, 'pruned_before', horizon)
end

-- A collection: its log, its tombstone index, and the prefixes of its
-- live and tombstone fields in the DID state.
local LIKES = {tombstones = KEYS[3], live = 'l:', tomb = 't:'}
local POSTS = {log = KEYS[5], tombstones = KEYS[6], live = 'p:', tomb = 'q:'}

local dids = tonumber(ARGV[2])
local i = 3 + dids
local tombstone_count, post_count, post_tombstone_count, account_count, status_count =
  tonumber(ARGV[i]), tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3]),
  tonumber(ARGV[i + 4])
i = i + 5

-- Prunes the next `count` log candidates of collection `c`; returns how
-- many left the log and how many tombstones from before the horizon their
-- new ones replaced.
local function prune_log(c, count)
  local pruned, replaced = 0, 0
  for _ = 1, count do
    local j, rkey, member = tonumber(ARGV[i]), ARGV[i + 1], ARGV[i + 2]
    i = i + 3
    if string.sub(member, 1, 20) < horizon and redis.call('ZREM', c.log, member) == 1 then
      pruned = pruned + 1
      local did, did_name = KEYS[7 + j], ARGV[2 + j]
      local known = redis.call('HMGET', did, c.live .. rkey, c.tomb .. rkey)
      local live, tomb = known[1], known[2]
      -- The field keeps the log time (or, as older stores wrote it, the
      -- member, which starts with it).
      if live and string.sub(live, 21, 40) == string.sub(member, 1, 20) then
        redis.call('HDEL', did, c.live .. rkey)
        -- Also created at or after the horizon: a tombstone at that
        -- create keeps a replay of it from bringing the record back.
        local newest = string.sub(live, 1, 20)
        if newest >= horizon and not (tomb and tomb >= newest) then
          local tail = string.format('%010d', #did_name) .. did_name .. rkey
          if tomb then
            redis.call('ZREM', c.tombstones, tomb .. tail)
            if tomb < horizon then
              replaced = replaced + 1
            end
          end
          redis.call('HSET', did, c.tomb .. rkey, newest)
          redis.call('ZADD', c.tombstones, 0, newest .. tail)
        end
      end
    end
  end
  return pruned, replaced
end

-- Drops the next `count` tombstone candidates of collection `c`; returns
-- how many went.
local function prune_tombstones(c, count)
  local dropped = 0
  for _ = 1, count do
    local j, rkey, member = tonumber(ARGV[i]), ARGV[i + 1], ARGV[i + 2]
    i = i + 3
    if string.sub(member, 1, 20) < horizon and redis.call('ZREM', c.tombstones, member) == 1 then
      local did = KEYS[7 + j]
      local at = redis.call('HGET', did, c.tomb .. rkey)
      if at and at < horizon then
        redis.call('HDEL', did, c.tomb .. rkey)
        dropped = dropped + 1
      end
    end
  end
  return dropped
end

local tombs = prune_tombstones(LIKES, tombstone_count)
local posts, post_replaced = prune_log(POSTS, post_count)
local post_tombs = prune_tombstones(POSTS, post_tombstone_count)

local accounts = 0
for _ = 1, account_count do
  local j, member = tonumber(ARGV[i]), ARGV[i + 1]
  i = i + 2
  if string.sub(member, 1, 20) < horizon and redis.call('ZREM', deleted_accounts, member) == 1 then
    local did = KEYS[7 + j]
    local at = redis.call('HGET', did, 'a')
    if at and at < horizon then
      redis.call('HDEL', did, 'a')
      accounts = accounts + 1
    end
  end
end

-- A status index member is its DID's status field value (T20 ‖ flag)
-- followed by the DID.
local account_statuses = 0
for _ = 1, status_count do
  local j, member = tonumber(ARGV[i]), ARGV[i + 1]
  i = i + 2
  if string.sub(member, 1, 20) < horizon and redis.call('ZREM', statuses, member) == 1 then
    local did = KEYS[7 + j]
    if redis.call('HGET', did, 's') == string.sub(member, 1, 21) then
      redis.call('HDEL', did, 's')
    end
    account_statuses = account_statuses + 1
  end
end

local function any_before(key)
  return #redis.call('ZRANGE', key, '-', '(' .. horizon, 'BYLEX', 'LIMIT', 0, 1) > 0
end
local more = any_before(LIKES.tombstones)
  or any_before(POSTS.log) or any_before(POSTS.tombstones) or any_before(deleted_accounts)
  or any_before(statuses)
return {tombs, posts, post_tombs, post_replaced, accounts, account_statuses, more and 1 or 0}
