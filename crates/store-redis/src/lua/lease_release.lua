-- Gives a lease up if the holder holds it (see KEYS.md).
--
-- KEYS[1]  the lease   {P:lease:NAME}
-- ARGV[1]  the holder
--
-- Returns 1 when the lease was given up, 0 when the holder did not hold
-- it.

if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
