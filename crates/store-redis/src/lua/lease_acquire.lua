-- Takes or renews a lease (see KEYS.md).
--
-- KEYS[1]  the lease   {P:lease:NAME}
-- ARGV[1]  the holder
-- ARGV[2]  the TTL, whole milliseconds (> 0)
--
-- Returns 1 when the holder holds the lease afterwards, 0 when another
-- does.

local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
