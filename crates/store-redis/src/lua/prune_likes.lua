-- Prunes the likes of one like chunk that lie before the horizon,
-- atomically (see KEYS.md, *Retention*). The caller read the chunk just
-- before; each candidate is checked again here (a concurrent delete may
-- have removed it), and the chunk's due time moves, or the chunk goes,
-- only when the chunk holds the records the caller read.
--
-- KEYS[1]   the store's counters    {P}:state
-- KEYS[2]   the like tombstones by time  {P}:tombstones
-- KEYS[3]   the like log's chunks   {P}:like-chunks
-- KEYS[4]   when each chunk is due  {P}:like-chunks-due
-- KEYS[5..] the DID states          {P}:did:DID, one per DID of the call
-- ARGV[1]   the horizon, T20 (the store's, already recorded)
-- ARGV[2]   the prefix of like chunk keys, {P}:likes:
-- ARGV[3]   the prefix of their dead-record bitmaps, {P}:likes-dead:
-- ARGV[4]   the chunk's number
-- ARGV[5]   how many records the caller read in it
-- ARGV[6]   its due time once the candidates are gone, or '' to leave it
-- ARGV[7]   '1' when the chunk goes once they are (nothing live left and
--           every record before the horizon), else '0'
-- ARGV[8]   how many DIDs the call has, m
-- ARGV[9 .. 8+m]  the DIDs, in the order of their keys
-- then the candidates: j (the DID's number), rkey, the record's ordinal
--
-- Returns {likes pruned, tombstones from before the horizon replaced}.

local state, tombstones, chunks, due = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local horizon = ARGV[1]
local chunk_prefix, dead_prefix = ARGV[2], ARGV[3]
local n = tonumber(ARGV[4])
local dids = tonumber(ARGV[8])

local pruned, replaced = 0, 0
local i = 9 + dids
while i <= #ARGV do
  local j, rkey, ordinal = tonumber(ARGV[i]), ARGV[i + 1], tonumber(ARGV[i + 2])
  i = i + 3
  local did, did_name = KEYS[4 + j], ARGV[8 + j]
  local known = redis.call('HMGET', did, 'l:' .. rkey, 't:' .. rkey)
  local live, tomb = known[1], known[2]
  if live then
    local chunk, at = struct.unpack('<I4I2', string.sub(live, 21, 26))
    if chunk == n and at == ordinal then
      redis.call('HDEL', did, 'l:' .. rkey)
      redis.call('SETBIT', dead_prefix .. n, ordinal, 1)
      pruned = pruned + 1
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
if pruned > 0 then
  redis.call('HINCRBY', state, 'like_count', -pruned)
end

local meta = redis.call('HGET', chunks, n)
if meta and ARGV[6] ~= '' then
  local last, records = string.match(meta, '^%d+ (%d+) %d+ (%d+) ')
  local head = tonumber(redis.call('HGET', state, 'like_head') or '0')
  if tonumber(records) == tonumber(ARGV[5]) then
    if ARGV[7] == '1' and n ~= head then
      redis.call('DEL', chunk_prefix .. n, dead_prefix .. n)
      redis.call('HDEL', chunks, n)
      redis.call('ZREM', due, n)
      -- Its records are no longer there for a follower to read.
      local from = tonumber(redis.call('HGET', state, 'changes_from') or '0')
      if tonumber(last) + 1 > from then
        redis.call('HSET', state, 'changes_from', string.format('%d', tonumber(last) + 1))
      end
    else
      redis.call('ZADD', due, 'XX', ARGV[6], n)
    end
  end
end
return {pruned, replaced}
