-- Updates one feed's pool atomically (see KEYS.md).
--
-- KEYS[1]  the pool  {P:pool:FEED}
-- ARGV[1]  '1' to replace the pool, '0' to change it
-- ARGV[2]  now, µs: the score of posts added
-- ARGV[3]  how many posts to add, n
-- ARGV[4 .. 3+n]  the posts to add, distinct, none of them to remove
-- ARGV[4+n ..]    the posts to remove, distinct (unused with replace)
--
-- Returns {added, removed, size}.

local pool = KEYS[1]
local replace = ARGV[1] == '1'
local now = ARGV[2]
local last_add = 3 + tonumber(ARGV[3])
local added, removed = 0, 0

if replace then
  local keep = {}
  for i = 4, last_add do
    keep[ARGV[i]] = true
  end
  for _, uri in ipairs(redis.call('ZRANGE', pool, 0, -1)) do
    if not keep[uri] then
      removed = removed + redis.call('ZREM', pool, uri)
    end
  end
else
  for i = last_add + 1, #ARGV do
    removed = removed + redis.call('ZREM', pool, ARGV[i])
  end
end
-- NX: a post already present keeps the time it was first added.
for i = 4, last_add do
  added = added + redis.call('ZADD', pool, 'NX', now, ARGV[i])
end
return {added, removed, redis.call('ZCARD', pool)}
