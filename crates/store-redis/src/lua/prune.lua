-- Prunes one chunk of what lies before the horizon, atomically (see
-- KEYS.md). The caller read the candidates just before; each is checked
-- again here, so a like or deletion a concurrent apply changed since is
-- left alone.
--
-- KEYS[1]   the like log            {P}:log
-- KEYS[2]   the store's counters    {P}:state
-- KEYS[3]   the tombstones by time  {P}:tombstones
-- KEYS[4]   the account deletions by time  {P}:deleted-accounts
-- KEYS[5..] the DID states          {P}:did:DID, one per DID of the chunk
-- ARGV[1]   the horizon, T20; the store's moves to it unless it is later
-- ARGV[2]   how many DIDs the chunk has, m
-- ARGV[3 .. 2+m]  the DIDs, in the order of their keys
-- ARGV[3+m .. 5+m]  how many likes, tombstones and account deletions follow
-- then the likes:              j, rkey, log member
-- then the tombstones:         j, rkey, {P}:tombstones member
-- then the account deletions:  j, {P}:deleted-accounts member
-- (j: the DID's number, 1..m)
--
-- Returns {likes, tombstones, tombstones replaced, accounts, more (1 or
-- 0)}: `tombstones` counts those of the arguments, `tombstones replaced`
-- those from before the horizon that a pruned like's new one replaced.

local log, state, tombstones, deleted_accounts = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local horizon = ARGV[1]
local stored = redis.call('HGET', state, 'pruned_before')
if stored and stored >= horizon then
  horizon = stored
else
  redis.call('HSET', state, 'pruned_before', horizon)
end

local dids = tonumber(ARGV[2])
local i = 3 + dids
local like_count, tombstone_count, account_count =
  tonumber(ARGV[i]), tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
i = i + 3
local likes, tombs, replaced, accounts = 0, 0, 0, 0

-- Live likes gone, by DID number.
local gone = {}
for _ = 1, like_count do
  local j, rkey, member = tonumber(ARGV[i]), ARGV[i + 1], ARGV[i + 2]
  i = i + 3
  if string.sub(member, 1, 20) < horizon and redis.call('ZREM', log, member) == 1 then
    likes = likes + 1
    local did, did_name = KEYS[4 + j], ARGV[2 + j]
    local known = redis.call('HMGET', did, 'l:' .. rkey, 't:' .. rkey)
    local live, tomb = known[1], known[2]
    if live and string.sub(live, 21) == member then
      redis.call('HDEL', did, 'l:' .. rkey)
      gone[j] = (gone[j] or 0) + 1
      -- Also created at or after the horizon: a tombstone at that create
      -- keeps a replay of it from bringing the like back.
      local newest = string.sub(live, 1, 20)
      if newest >= horizon and not (tomb and tomb >= newest) then
        local tail = string.format('%010d', #did_name) .. did_name .. rkey
        if tomb then
          redis.call('ZREM', tombstones, tomb .. tail)
          if tomb < horizon then
            replaced = replaced + 1
          end
        end
        redis.call('HSET', did, 't:' .. rkey, newest)
        redis.call('ZADD', tombstones, 0, newest .. tail)
      end
    end
  end
end
local likers = 0
for j, count in pairs(gone) do
  if redis.call('HINCRBY', KEYS[4 + j], 'n', -count) <= 0 then
    redis.call('HDEL', KEYS[4 + j], 'n')
    likers = likers - 1
  end
end
if likers ~= 0 then
  redis.call('HINCRBY', state, 'likers', likers)
end

for _ = 1, tombstone_count do
  local j, rkey, member = tonumber(ARGV[i]), ARGV[i + 1], ARGV[i + 2]
  i = i + 3
  if string.sub(member, 1, 20) < horizon and redis.call('ZREM', tombstones, member) == 1 then
    local did = KEYS[4 + j]
    local at = redis.call('HGET', did, 't:' .. rkey)
    if at and at < horizon then
      redis.call('HDEL', did, 't:' .. rkey)
      tombs = tombs + 1
    end
  end
end

for _ = 1, account_count do
  local j, member = tonumber(ARGV[i]), ARGV[i + 1]
  i = i + 2
  if string.sub(member, 1, 20) < horizon and redis.call('ZREM', deleted_accounts, member) == 1 then
    local did = KEYS[4 + j]
    local at = redis.call('HGET', did, 'a')
    if at and at < horizon then
      redis.call('HDEL', did, 'a')
      accounts = accounts + 1
    end
  end
end

local function any_before(key)
  return #redis.call('ZRANGE', key, '-', '(' .. horizon, 'BYLEX', 'LIMIT', 0, 1) > 0
end
local more = any_before(log) or any_before(tombstones) or any_before(deleted_accounts)
return {likes, tombs, replaced, accounts, more and 1 or 0}
