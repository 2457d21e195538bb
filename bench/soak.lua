-- The mixed traffic of bench/soak.py, for wrk (`wrk -tN -cN -s soak.lua
-- URL -- PARAMS_FILE`). Run with as many threads as connections: wrk's Lua
-- does not say which connection a response belongs to, but a thread with
-- one connection has one request in flight, so `response` answers the
-- request `request` made last.
--
-- PARAMS_FILE (written by soak.py) holds `key value` lines: `rate` (total
-- requests/s to pace at, 0 for as fast as possible), `threads`,
-- `admin_token`, `verified_feed`, `anon_feed` (repeated), `pool_feed`
-- (repeated), `tokens` (a file of `DID FEED_TOKEN INTERACTIONS_TOKEN`
-- lines), `max_pages`, and the mix in percent: `mix_anon`, `mix_verified`,
-- `mix_page`, `mix_interact`, `mix_stats`, `mix_pool`.
--
-- Each request is one of:
--   anon      getFeedSkeleton of an anonymous feed, no token, limit 30
--   verified  getFeedSkeleton of `verified_feed` with a viewer's token
--   page      the next page of this connection's current paging: the cursor
--             of its last answer, on the same feed with the same token
--             (without one, a first page: anon or verified, counted so)
--   interact  sendInteractions with a viewer's token: interactionSeen for
--             posts this connection was served, now and then requestLess /
--             requestMore
--   stats     GET /v1/stats, admin token
--   pool      GET /v1/feeds/{feed}/pool, admin token
-- `done` prints one line, `SOAK_RESULT {json}`: status counts per kind,
-- per class and of the requests carrying a viewer token, paging depth,
-- empty answers, wrk's totals and latency percentiles.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } soak_timespec;
int clock_gettime(int clk_id, soak_timespec *tp);
]]
local timespec = ffi.new("soak_timespec")
local CLOCK_MONOTONIC = 1

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) * 1000 + tonumber(timespec.tv_nsec) / 1e6
end

local threads = {}

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

-- Per thread (each has its own Lua state).
local params = { anon_feed = {}, pool_feed = {} }
local viewers = {}
local mix = {}
local interval_ms = 0
local next_at = nil
local last = nil          -- what the request in flight is
local paging = nil        -- {feed, cursor, viewer, page}
local served = {}         -- post URIs this connection was served lately
counts = {}               -- "kind status" -> n, read by `done`

local function bump(key)
  counts[key] = (counts[key] or 0) + 1
end

local function read_params(path)
  for line in io.lines(path) do
    local key, value = line:match("^(%S+)%s+(.+)$")
    if key then
      if type(params[key]) == "table" then
        table.insert(params[key], value)
      else
        params[key] = value
      end
    end
  end
  for line in io.lines(params.tokens) do
    local did, feed_token, interact_token = line:match("^(%S+)%s+(%S+)%s+(%S+)$")
    if did then
      table.insert(viewers, { did = did, feed = feed_token, interact = interact_token })
    end
  end
end

function init(args)
  read_params(args[1])
  math.randomseed(thread_id * 7919 + os.time())
  local rate = tonumber(params.rate)
  if rate > 0 then
    interval_ms = 1000 * tonumber(params.threads) / rate
  end
  local acc = 0
  for _, kind in ipairs({ "anon", "verified", "page", "interact", "stats", "pool" }) do
    acc = acc + tonumber(params["mix_" .. kind])
    table.insert(mix, { kind = kind, upto = acc })
  end
  mix.total = acc
end

-- Paces each connection to `interval_ms` between request starts: a
-- schedule, not a fixed pause, so the time a request takes is not added.
-- A connection more than a second behind starts its schedule over rather
-- than bursting.
function delay()
  if interval_ms == 0 then
    return 0
  end
  local now = now_ms()
  if next_at == nil then
    next_at = now + math.random() * interval_ms
  else
    next_at = next_at + interval_ms
  end
  if next_at < now - 1000 then
    next_at = now
  end
  return math.max(0, math.floor(next_at - now))
end

local function urlencode(s)
  return (s:gsub("[^%w%-_%.~]", function(c)
    return string.format("%%%02X", string.byte(c))
  end))
end

local function skeleton(kind, feed, viewer, cursor, page)
  local path = "/xrpc/app.bsky.feed.getFeedSkeleton?limit=30&feed=" .. urlencode(feed)
  if cursor then
    path = path .. "&cursor=" .. urlencode(cursor)
  end
  local headers = {}
  if viewer then
    headers["Authorization"] = "Bearer " .. viewer.feed
  end
  last = { kind = kind, feed = feed, viewer = viewer, page = page, token = viewer ~= nil }
  return wrk.format("GET", path, headers)
end

local function first_page(kind)
  if kind == "verified" then
    return skeleton("verified", params.verified_feed, viewers[math.random(#viewers)], nil, 1)
  end
  return skeleton("anon", params.anon_feed[math.random(#params.anon_feed)], nil, nil, 1)
end

local EVENTS = { "interactionSeen", "interactionSeen", "interactionSeen", "requestLess", "requestMore" }

local function interact()
  local viewer = viewers[math.random(#viewers)]
  local items = {}
  for _ = 1, math.min(#served, 5) do
    local post = served[math.random(#served)]
    local event = EVENTS[math.random(#EVENTS)]
    table.insert(items, string.format(
      '{"item":"%s","event":"app.bsky.feed.defs#%s","feedContext":"walk"}', post, event))
  end
  local body = string.format('{"feed":"%s","interactions":[%s]}',
    params.verified_feed, table.concat(items, ","))
  last = { kind = "interact", token = true }
  return wrk.format("POST", "/xrpc/app.bsky.feed.sendInteractions", {
    ["Authorization"] = "Bearer " .. viewer.interact,
    ["Content-Type"] = "application/json",
  }, body)
end

local function admin(kind, path)
  last = { kind = kind }
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. params.admin_token })
end

function request()
  local pick = math.random() * mix.total
  local kind = "pool"
  for _, entry in ipairs(mix) do
    if pick < entry.upto then
      kind = entry.kind
      break
    end
  end
  if kind == "anon" or kind == "verified" then
    return first_page(kind)
  elseif kind == "page" then
    if paging then
      return skeleton("page", paging.feed, paging.viewer, paging.cursor, paging.page)
    end
    return first_page(math.random() < 0.5 and "anon" or "verified")
  elseif kind == "interact" then
    return interact()
  elseif kind == "stats" then
    return admin("stats", "/v1/stats")
  end
  local feed = params.pool_feed[math.random(#params.pool_feed)]
  return admin("pool", "/v1/feeds/" .. feed .. "/pool")
end

function response(status, headers, body)
  local kind = last and last.kind or "unknown"
  bump(kind .. " " .. status)
  bump("class " .. math.floor(status / 100) .. "xx")
  if last and last.token then
    bump("token " .. status)
  end
  if status ~= 200 or not last or not last.page then
    if last and last.kind == "page" then
      paging = nil
    end
    return
  end
  local posts = 0
  for post in body:gmatch('"post":"([^"]+)"') do
    posts = posts + 1
    if #served < 200 then
      table.insert(served, post)
    else
      served[math.random(#served)] = post
    end
  end
  if posts == 0 then
    bump("empty " .. kind)
  end
  local cursor = body:match('"cursor":"([^"]+)"')
  if kind == "page" then
    bump("depth " .. last.page)
    if cursor and last.page < tonumber(params.max_pages) then
      paging.cursor = cursor
      paging.page = last.page + 1
    else
      if not cursor then
        bump("paging ended")
      end
      paging = nil
    end
  elseif cursor and paging == nil then
    paging = { feed = last.feed, viewer = last.viewer, cursor = cursor, page = 2 }
  end
end

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return string.format("\\u%04x", string.byte(c))
  end) .. '"'
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for key, n in pairs(thread:get("counts")) do
      total[key] = (total[key] or 0) + n
    end
  end
  local parts = {}
  for key, n in pairs(total) do
    table.insert(parts, json_string(key) .. ":" .. n)
  end
  local e = summary.errors
  io.write(string.format(
    'SOAK_RESULT {"counts":{%s},"requests":%d,"duration_us":%d,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%.1f}}\n',
    table.concat(parts, ","), summary.requests, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean))
end
