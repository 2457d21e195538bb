-- Reads the numbered changes after a number, atomically with the newest
-- number and the oldest one kept (see KEYS.md, *Changes*).
--
-- KEYS[1]  the store's counters    {P}:state
-- KEYS[2]  the post changes        {P}:changes
-- KEYS[3]  the like log's chunks   {P}:like-chunks
-- ARGV[1]  `after`: the changes numbered after it are wanted
-- ARGV[2]  how many changes to return at most (> 0)
-- ARGV[3]  the prefix of like chunk keys, {P}:likes:
--
-- Returns {newest number or nil, oldest number kept or nil, {entries}
-- (the post changes), {chunks}, more}: the like chunks from the one
-- holding number `after + 1` on, whole, until their numbers span `max`
-- after `after` or the head is reached (`more` 1 when chunks were left).

local state, changes, chunks = KEYS[1], KEYS[2], KEYS[3]
local after, max, prefix = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local version = redis.call('HGET', state, 'likes_version')
local from = redis.call('HGET', state, 'changes_from')
local entries = redis.call('XRANGE', changes, string.format('%d-0', after + 1), '+', 'COUNT', max)

local function first_last(n)
  local meta = redis.call('HGET', chunks, n)
  if not meta then
    return nil
  end
  local first, last = string.match(meta, '^(%d+) (%d+) ')
  return tonumber(first), tonumber(last)
end

-- Followers are near the head: walk back from it to the chunk holding
-- `after + 1`, or the oldest after it.
local head = tonumber(redis.call('HGET', state, 'like_head') or '0')
local start = nil
local n = head
while n >= 1 do
  local first, last = first_last(n)
  if first then
    if last <= after then
      break
    end
    start = n
    if first <= after + 1 then
      break
    end
  end
  n = n - 1
end

local out = {}
if start then
  local counted = 0
  n = start
  while n <= head and counted < max do
    local first, last = first_last(n)
    if first then
      out[#out + 1] = redis.call('GET', prefix .. n) or ''
      counted = counted + last - math.max(first - 1, after)
    end
    n = n + 1
  end
end
-- Whether chunks after the last returned were left out.
local more = (start and n <= head) and 1 or 0
return {version, from, entries, out, more}
