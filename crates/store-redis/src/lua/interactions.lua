-- Merges interactions into one viewer's history atomically (see KEYS.md).
--
-- KEYS[1]  the history  {P:ix:VIEWER}
-- ARGV[1]  the cutoff, µs: entries older are dropped
-- ARGV[2]  the ZREMRANGEBYRANK stop that keeps the newest max_per_viewer
-- ARGV[3]  now, µs
-- ARGV[4]  the TTL, µs
-- ARGV[5..] time_us, member pairs (member = event code byte, item URI)

local history = KEYS[1]
for i = 5, #ARGV, 2 do
  -- GT: one entry per (item, event), at its newest time.
  redis.call('ZADD', history, 'GT', ARGV[i], ARGV[i + 1])
end
redis.call('ZREMRANGEBYSCORE', history, '-inf', '(' .. ARGV[1])
redis.call('ZREMRANGEBYRANK', history, 0, ARGV[2])
local newest = redis.call('ZRANGE', history, -1, -1, 'WITHSCORES')
if #newest == 0 then
  return 0
end
-- The key expires when its newest entry does.
local left_ms = math.ceil((tonumber(newest[2]) + tonumber(ARGV[4]) - tonumber(ARGV[3])) / 1000)
if left_ms < 1 then
  left_ms = 1
end
if left_ms < 1e15 then
  redis.call('PEXPIRE', history, string.format('%d', left_ms))
else
  redis.call('PERSIST', history)
end
return 1
