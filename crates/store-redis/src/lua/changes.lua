-- Reads the numbered changes after a number, atomically with the newest
-- number and the oldest change kept (see KEYS.md).
--
-- KEYS[1]  the store's counters  {P}:state
-- KEYS[2]  the changes           {P}:changes
-- ARGV[1]  the first stream ID to return (`after + 1`-0)
-- ARGV[2]  how many changes to return at most (> 0)
--
-- Returns {newest number or nil, {oldest kept entry} or {}, {entries}}.

local version = redis.call('HGET', KEYS[1], 'likes_version')
local oldest = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
local entries = redis.call('XRANGE', KEYS[2], ARGV[1], '+', 'COUNT', ARGV[2])
return {version, oldest, entries}
