#!/usr/bin/env python3
"""The one-command benchmark (issue 13): for each capture size, one run and
one table of graph memory, walk latency, HTTP throughput and latency, and
replay and bootstrap rates.

    python3 bench/bench.py [--bin target/release/feedmixer] [--sizes 1M,10M]
                           [--duration 10] [--out bench-out] [--smoke]

For each size (`1M` is the demo's full dataset, `10M` ten times that: any
whole number of millions; `50M` writes ~27 GB, so it is not a default):

1. Capture: `feedmixer demo-capture --scale N` into the cache dir
   (/tmp/feedmixer-bench, `--cache`), reused when one of that size is
   younger than CACHE_HOURS (its likes end when it was written, and the
   graph keeps 7 days of them). Free disk space is checked first.
2. Replay: `feedmixer replay` into a fresh data dir, timed: likes/s.
3. Bootstrap: `feedmixer serve --data-dir ... --listen 127.0.0.1:PORT`
   (no --demo, no ingest, admin token set, `--plc-url` a PLC stand-in run
   here), timed from spawn to `/internal/ready` answering 200: likes/s.
4. Graph memory: `/v1/stats` `memory_bytes` / `likes` (what the graph
   itself accounts for), and the process's VmRSS / likes once ready.
5. Walk: three viewers picked from the capture by their number of likes
   (among accounts with at least one): light = the 10th percentile, median
   = the 50th, heavy = the top liker. For each, WALK_REQUESTS sequential
   `POST /v1/personalize` of `for-you` (limit 30, one keep-alive
   connection): the request's latency p50/p99 as the client sees it; then
   as many again with `"explain": true` for the `walk` source's own
   `elapsed_ms` p50/p99 (the explain trace's timing of that stage).
6. HTTP: wrk (`--latency`, 2 threads, after a 2 s warm-up) at 1, 8 and 64
   connections, `--duration` s each, for the shipped feeds:
   - `trending_anonymous`: getFeedSkeleton `trending`, no token, limit 30;
   - `personalize_for_you`: `/v1/personalize` `for-you` for the demo viewer
     (admin bearer token), limit 30;
   - `personalize_overrides`: the same with `"params": {"walk":
     {"max_likes": 200}}` (the shipped value, so the same walk): the
     request builds a flow of its own, as one naming a preset does;
   - `verified_demo_viewer`: getFeedSkeleton `for-you` with the demo
     viewer's ES256 service JWT (verified on every request): the same walk
     as `personalize_for_you`, so the two compare like for like;
   - `verified_for_you`: getFeedSkeleton `for-you` with ES256 service JWTs
     of VERIFIED_VIEWERS accounts of the capture (spread over their like
     counts, the demo viewer included), each request a random one; the PLC
     stand-in serves their DID documents. That a token verifies is checked
     first, and afterwards that the server counted no invalid or
     unavailable viewer auth.
   Each: requests/s, p50 and p99 ms, non-2xx answers and socket errors.
   Then `personalize_for_you` open loop (feedmixer-load, crates/load: each
   request sent when due, latency counted from then) at half the rate 8
   connections reached, over 8 connections: 2xx/s and p50/p99.

Prints a markdown table (rows = metric, columns = sizes) to stdout and
writes it to OUT/bench.md, with OUT/bench.json: {"machine": {...}, "git":
{...}, "results": [one object per size]}. Progress goes to stderr. Exits 1
after printing if any request failed (non-2xx, socket error) or, with
--smoke, if a field is missing or not sane.

--smoke: the small capture (20k likes), 2 s per wrk case with no warm-up,
1 and 8 connections, 20 requests per walk class; checks that every field
is present and sane, never timings. scripts/test runs it with the debug
binary. Needs wrk (apt-get install wrk); Python stdlib only. Does not
build: run `cargo build --release -p feedmixer -p feedmixer-load` first.
"""

import argparse
import http.client
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import Counter

from harness import (DEMO_VIEWER, FEED_METHOD, PERSONALIZE_BODY, PERSONALIZE_HEADERS, ROOT,
                     TOKEN, Viewer, free_port, open_loop, post_lua, request, start_plc,
                     viewer_auth, wait_ready, wrk)

CACHE = "/tmp/feedmixer-bench"
CACHE_HOURS = 12
# Measured: 538 bytes a like in the JSONL capture, 296 and 290 in the
# embedded store after replay at 1M and 10M (schema 2), with room.
CAPTURE_BYTES_PER_LIKE = 600
STORE_BYTES_PER_LIKE = 400
WALK_REQUESTS = 200
VERIFIED_VIEWERS = 64
CONNECTIONS = [1, 8, 64]
WALK_CLASSES = ["light", "median", "heavy"]
CASES = ["trending_anonymous", "personalize_for_you", "personalize_overrides",
         "verified_demo_viewer", "verified_for_you"]
# The shipped cap named as an override: the same walk, but the request
# builds a flow of its own (what a preset or param override costs).
OVERRIDES_BODY = ('{"user_did":"%s","feed":"for-you","limit":30,'
                  '"params":{"walk":{"max_likes":200}}}' % DEMO_VIEWER)
# A random viewer's token per request (each thread reads the file).
VERIFIED_LUA = """
local tokens = {}
local path = "%s"
function init(args)
  for line in io.lines(args[1]) do table.insert(tokens, line) end
end
function request()
  local token = tokens[math.random(#tokens)]
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. token })
end
"""


def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse_size(text):
    """("1M", likes, scale) of `1M`/`10M`/...; ("small", 20000, None)."""
    if text == "small":
        return "small", 20_000, None
    m = re.fullmatch(r"(\d+)M", text)
    if not m or int(m.group(1)) < 1:
        raise SystemExit(f"size {text!r}: give a whole number of millions of likes, e.g. 1M, 10M")
    return text, int(m.group(1)) * 1_000_000, int(m.group(1))


def need_space(path, needed, what):
    free = shutil.disk_usage(path).free
    if free < needed:
        raise SystemExit(f"not enough disk for {what}: about {needed / 1e9:.1f} GB needed in "
                         f"{path}, {free / 1e9:.1f} GB free (free some, or pick smaller --sizes)")


def percentile(values, pct):
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))]


def run(cmd, **kw):
    return subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True, **kw)


# --- capture ---------------------------------------------------------------

def capture(binary, cache, label, likes, scale):
    """The capture of `label` (cached), and how it was had."""
    path = os.path.join(cache, f"capture-{label}.jsonl")
    if os.path.exists(path) and time.time() - os.path.getmtime(path) < CACHE_HOURS * 3600:
        log(f"{label}: cached capture {path}")
        return path, {"path": path, "bytes": os.path.getsize(path), "cached": True,
                      "write_seconds": None}
    if os.path.exists(path):
        os.remove(path)
    need_space(cache, likes * CAPTURE_BYTES_PER_LIKE, f"the {label} capture")
    cmd = [binary, "demo-capture", path + ".part"]
    cmd += ["--size", "small"] if scale is None else ["--size", "full", "--scale", str(scale)]
    log(f"{label}: writing capture {path}")
    start = time.monotonic()
    run(cmd)
    seconds = time.monotonic() - start
    os.replace(path + ".part", path)
    return path, {"path": path, "bytes": os.path.getsize(path), "cached": False,
                  "write_seconds": round(seconds, 1)}


LIKE_LINE = re.compile(rb'^\{"did":"([^"]+)".*"operation":"create","collection":"app\.bsky\.feed\.like"')


def likes_per_did(path):
    counts = Counter()
    with open(path, "rb") as f:
        for line in f:
            m = LIKE_LINE.match(line)
            if m:
                counts[m.group(1).decode()] += 1
    return counts


def pick_viewers(counts):
    """The walk's light, median and heavy viewers, and VERIFIED_VIEWERS
    accounts spread over the like counts (the demo viewer first)."""
    ranked = sorted(counts.items(), key=lambda kv: (kv[1], kv[0]))
    n = len(ranked)
    classes = {"light": ranked[n // 10], "median": ranked[n // 2], "heavy": ranked[-1]}
    step = max(1, n // VERIFIED_VIEWERS)
    verified = [DEMO_VIEWER] + [did for did, _ in ranked[::step] if did != DEMO_VIEWER]
    return classes, verified[:VERIFIED_VIEWERS]


# --- the server ------------------------------------------------------------

def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) * 1024


def bench_config(work, queued):
    """A copy of config/ whose `[http] max_queued` is `queued`: with the
    shipped bound (16 per core) the 64-connection runs would be answered
    503 in part (shed), which says nothing of how fast the server ranks;
    with every connection's request queued, they measure throughput and
    queueing. Everything else as shipped (`max_in_flight` too)."""
    config = os.path.join(work, "config")
    shutil.copytree(os.path.join(ROOT, "config"), config)
    path = os.path.join(config, "feedmixer.toml")
    with open(path) as f:
        text = f.read()
    if re.search(r"^\[http\]", text, re.M):
        text = re.sub(r"^\[http\]\n", f"[http]\nmax_queued = {queued}\n", text, count=1,
                      flags=re.M)
    else:
        text += f"\n[http]\nmax_queued = {queued}\n"
    with open(path, "w") as f:
        f.write(text)
    return path


class Server:
    """`feedmixer serve` on `data_dir`, its bootstrap timed."""

    def __init__(self, binary, data_dir, plc_url, log_path, config):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("FEEDMIXER_") and k not in ("REDIS_URL", "REDIS_CLUSTER_NODES")}
        env.update(FEEDMIXER_ADMIN_TOKEN=TOKEN, RUST_LOG=os.environ.get("RUST_LOG", "warn"))
        self.log_path = log_path
        with open(log_path, "w") as out:
            start = time.monotonic()
            self.process = subprocess.Popen(
                [binary, "serve", "--data-dir", data_dir, "--listen", f"127.0.0.1:{self.port}",
                 "--plc-url", plc_url, "--config", config],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        wait_ready(self.base, timeout=3600, process=self.process)
        self.bootstrap_seconds = time.monotonic() - start

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_tail(self, lines=30):
        with open(self.log_path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])


def walk(base, did, requests):
    """Client latency of `requests` sequential personalize calls, then the
    walk stage's own time from as many explained ones."""
    host, port = urllib.parse.urlsplit(base).netloc.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    headers = {"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"}
    latency, stage, items, failures = [], [], [], 0
    for explain in (False, True):
        body = json.dumps({"user_did": did, "feed": "for-you", "limit": 30, "explain": explain})
        for _ in range(requests):
            start = time.perf_counter()
            conn.request("POST", "/v1/personalize", body, headers)
            response = conn.getresponse()
            data = response.read()
            elapsed = (time.perf_counter() - start) * 1000
            if response.status != 200:
                failures += 1
                continue
            page = json.loads(data)
            if explain:
                walk_stage = [s for s in page["explain"]["stages"] if s.get("component") == "walk"]
                if walk_stage:
                    stage.append(walk_stage[0]["elapsed_ms"])
            else:
                latency.append(elapsed)
                items.append(len(page["feed"]))
    conn.close()
    return {
        "requests": requests,
        "failures": failures,
        "latency_ms": {"p50": round(percentile(latency, 50), 2),
                       "p99": round(percentile(latency, 99), 2)} if latency else None,
        "walk_stage_ms": {"p50": round(percentile(stage, 50), 2),
                          "p99": round(percentile(stage, 99), 2)} if stage else None,
        "walk_stage_samples": len(stage),
        "items_min": min(items) if items else 0,
    }


def http_cases(server, work, feeds, service_did, viewers, connections, duration, warmup,
               load_bin):
    trending = (f"{server.base}/xrpc/{FEED_METHOD}?limit=30&feed="
                + urllib.parse.quote(feeds["trending"]))
    verified_path = f"/xrpc/{FEED_METHOD}?limit=30&feed=" + urllib.parse.quote(feeds["for-you"])
    personalize_lua = os.path.join(work, "personalize.lua")
    with open(personalize_lua, "w") as f:
        f.write(post_lua(PERSONALIZE_BODY))
    overrides_lua = os.path.join(work, "overrides.lua")
    with open(overrides_lua, "w") as f:
        f.write(post_lua(OVERRIDES_BODY))
    verified_lua = os.path.join(work, "verified.lua")
    with open(verified_lua, "w") as f:
        f.write(VERIFIED_LUA % verified_path)
    tokens_file = os.path.join(work, "tokens.txt")
    lifetime = 3600 + 10 * duration * len(connections) * len(CASES)
    tokens = [v.token(service_did, FEED_METHOD, lifetime) for v in viewers]
    with open(tokens_file, "w") as f:
        f.write("\n".join(tokens) + "\n")
    # The demo viewer (viewers[0]) alone: personalize_for_you's walk, with
    # a token verified on every request, for a like-for-like comparison.
    demo_tokens_file = os.path.join(work, "demo-tokens.txt")
    with open(demo_tokens_file, "w") as f:
        f.write(tokens[0] + "\n")

    # A token verifies (the server counts it so) and its page is not empty.
    before = viewer_auth(server.base)
    status, page = request(server.base + verified_path, tokens[0])
    after = viewer_auth(server.base)
    if status != 200 or after["verified"] != before["verified"] + 1 or not page["feed"]:
        raise SystemExit(f"the verified request did not verify: {status} {page}, "
                         f"auth {dict(before)} -> {dict(after)}")

    cases = {
        "trending_anonymous": (trending, None, ()),
        "personalize_for_you": (server.base + "/v1/personalize", personalize_lua, ()),
        "personalize_overrides": (server.base + "/v1/personalize", overrides_lua, ()),
        "verified_demo_viewer": (server.base + verified_path, verified_lua, (demo_tokens_file,)),
        "verified_for_you": (server.base + verified_path, verified_lua, (tokens_file,)),
    }
    results, auth = {}, Counter()
    for name, (url, script, script_args) in cases.items():
        results[name] = {}
        before = viewer_auth(server.base)
        for c in connections:
            if warmup:
                wrk(url, c, warmup, script, script_args)
            r = wrk(url, c, duration, script, script_args)
            log(f"  {name} c={c}: {r['requests_per_sec']:.0f} req/s, p50 {r['p50_ms']} ms, "
                f"p99 {r['p99_ms']} ms, non-2xx {r['non_2xx']}, socket errors {r['socket_errors']}")
            results[name][f"c{c}"] = {"connections": c, "seconds": duration, **r}
        if name == "personalize_for_you" and 8 in connections:
            # Open loop at half the rate 8 connections reached: latency
            # from when each request was due, queueing included.
            rate = max(1.0, results[name]["c8"]["requests_per_sec"] / 2)
            r = open_loop(load_bin, server.base + "/v1/personalize", rate, duration, warmup,
                          body=PERSONALIZE_BODY,
                          headers=PERSONALIZE_HEADERS, connections=8)
            log(f"  {name} open loop at {rate:.0f} req/s: {r['ok_per_sec']:.0f} 2xx/s, "
                f"p50 {r['ok_ms']['p50']} ms, p99 {r['ok_ms']['p99']} ms, "
                f"status {r['status']}, errors {r['errors']}")
            results[name]["half_rate"] = r
        if name.startswith("verified_"):
            # Every request of the case verified: none anonymous, invalid
            # or unavailable.
            end = viewer_auth(server.base)
            auth.update({k: int(end[k] - before.get(k, 0)) for k in end
                         if end[k] - before.get(k, 0)})
    return results, dict(auth)


def bench_size(args, size_text, cache):
    label, likes, scale = parse_size(size_text)
    result = {"size": label, "spec_likes": likes}
    path, result["capture"] = capture(args.bin, cache, label, likes, scale)

    log(f"{label}: counting likes per account in the capture")
    counts = likes_per_did(path)
    classes, verified_dids = pick_viewers(counts)
    result["capture"]["like_events"] = sum(counts.values())
    result["capture"]["likers"] = len(counts)

    work = tempfile.mkdtemp(prefix=f"bench-{label}-", dir=cache)
    data_dir = os.path.join(work, "data")
    server = plc = None
    try:
        need_space(cache, likes * STORE_BYTES_PER_LIKE, f"the {label} store")
        log(f"{label}: replaying into {data_dir}")
        start = time.monotonic()
        out = run([args.bin, "replay", path, "--data-dir", data_dir]).stdout
        seconds = time.monotonic() - start
        created = int(re.search(r"likes created (\d+)", out).group(1))
        result["replay"] = {"seconds": round(seconds, 2), "likes_created": created,
                            "likes_per_sec": round(created / seconds),
                            "store_bytes": sum(os.path.getsize(os.path.join(data_dir, f))
                                               for f in os.listdir(data_dir))}
        log(f"{label}: replay {created} likes in {seconds:.1f} s")
        # The replay's writes reach the disk now, not while the server is
        # measured (writeback of a 5 GB store stalled it: docs/benchmarks.md).
        start = time.monotonic()
        os.sync()
        result["replay"]["sync_seconds"] = round(time.monotonic() - start, 2)
        log(f"{label}: store on disk after {result['replay']['sync_seconds']} s more")

        viewers = [Viewer(did) for did in verified_dids]
        plc, plc_fetches = start_plc(viewers)
        log(f"{label}: starting the server")
        server = Server(args.bin, data_dir, f"http://127.0.0.1:{plc.server_address[1]}",
                        os.path.join(work, "server.log"),
                        bench_config(work, 2 * max(args.connections)))
        _, stats = request(server.base + "/v1/stats", TOKEN)
        rss = rss_bytes(server.process.pid)
        result["bootstrap"] = {"seconds": round(server.bootstrap_seconds, 2),
                               "likes_per_sec": round(stats["likes"] / server.bootstrap_seconds)}
        result["graph"] = {"likes": stats["likes"], "users": stats["users"],
                           "posts": stats["posts"], "memory_bytes": stats["memory_bytes"],
                           "bytes_per_like": round(stats["memory_bytes"] / stats["likes"], 1),
                           "rss_bytes": rss, "rss_bytes_per_like": round(rss / stats["likes"], 1)}
        log(f"{label}: ready in {server.bootstrap_seconds:.1f} s, graph "
            f"{result['graph']['bytes_per_like']} B/like")

        result["walk"] = {}
        for name in WALK_CLASSES:
            did, n = classes[name]
            log(f"{label}: walk {name} ({did}, {n} likes)")
            result["walk"][name] = {"did": did, "likes": n,
                                    **walk(server.base, did, args.walk_requests)}

        _, describe = request(server.base + "/xrpc/app.bsky.feed.describeFeedGenerator")
        feeds = {uri.rsplit("/", 1)[1]: uri for uri in (f["uri"] for f in describe["feeds"])}
        log(f"{label}: HTTP ({len(CASES)} cases x {args.connections} connections)")
        result["http"], auth = http_cases(server, work, feeds, describe["did"], viewers,
                                          args.connections, args.duration, args.warmup,
                                          args.load_bin)
        result["verified_auth"] = {"outcomes": auth, "viewers": len(viewers),
                                   "plc_fetches_known": plc_fetches[True],
                                   "plc_fetches_unknown": plc_fetches[False]}
        # The server kept up: no restart, the same graph.
        if server.process.poll() is not None:
            raise SystemExit(f"the server exited ({server.process.returncode})")
    except BaseException:
        if server is not None:
            sys.stderr.write("server log (tail):\n" + server.log_tail())
        raise
    finally:
        if server is not None:
            server.stop()
        if plc is not None:
            plc.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    return result


# --- checks and the report -------------------------------------------------

def failures(result):
    """Requests that failed: non-2xx, socket errors, walk errors, viewer
    tokens that did not verify."""
    out = []
    for case, runs in result["http"].items():
        for key, r in runs.items():
            if key == "half_rate":
                bad = r["sent"] - r["status"].get("200", 0)
                if bad:
                    out.append(f"{result['size']} {case} {key}: {bad} of {r['sent']} "
                               f"not 200 ({r['status']}, {r['errors']} errors)")
                continue
            if r["non_2xx"] or r["socket_errors"]:
                out.append(f"{result['size']} {case} {key}: {r['non_2xx']} non-2xx, "
                           f"{r['socket_errors']} socket errors")
    for name, w in result["walk"].items():
        if w["failures"]:
            out.append(f"{result['size']} walk {name}: {w['failures']} failed requests")
    bad_auth = {k: v for k, v in result["verified_auth"]["outcomes"].items() if k != "verified"}
    if bad_auth:
        out.append(f"{result['size']} verified_for_you: viewer auth outcomes {bad_auth}")
    return out


def sanity(result, connections):
    """What --smoke checks: every field there, counts that add up, no
    empty pages (never timings)."""
    problems = []

    def positive(where, value):
        if not isinstance(value, (int, float)) or value <= 0:
            problems.append(f"{result['size']} {where}: {value!r}")

    positive("capture bytes", result["capture"]["bytes"])
    positive("capture like events", result["capture"]["like_events"])
    replay = result["replay"]
    positive("replay likes/s", replay["likes_per_sec"])
    if replay["likes_created"] != result["capture"]["like_events"]:
        problems.append(f"replay created {replay['likes_created']} likes of "
                        f"{result['capture']['like_events']} in the capture")
    positive("bootstrap likes/s", result["bootstrap"]["likes_per_sec"])
    graph = result["graph"]
    if not 0.9 * replay["likes_created"] <= graph["likes"] <= replay["likes_created"]:
        problems.append(f"graph holds {graph['likes']} likes of {replay['likes_created']} replayed")
    for key in ("bytes_per_like", "rss_bytes_per_like", "users", "posts"):
        positive(f"graph {key}", graph[key])
    for name in WALK_CLASSES:
        w = result["walk"][name]
        positive(f"walk {name} likes", w["likes"])
        for key in ("latency_ms", "walk_stage_ms"):
            if not w[key]:
                problems.append(f"{result['size']} walk {name}: no {key}")
            else:
                positive(f"walk {name} {key} p50", w[key]["p50"])
                positive(f"walk {name} {key} p99", w[key]["p99"])
        if w["walk_stage_samples"] != w["requests"]:
            problems.append(f"walk {name}: walk stage timed in {w['walk_stage_samples']} "
                            f"of {w['requests']} explained requests")
        positive(f"walk {name} items on the page", w["items_min"])
    heavy, light = result["walk"]["heavy"]["likes"], result["walk"]["light"]["likes"]
    if not light <= result["walk"]["median"]["likes"] <= heavy:
        problems.append("walk classes not ordered by likes")
    for case in CASES:
        for c in connections:
            r = result["http"].get(case, {}).get(f"c{c}")
            if r is None:
                problems.append(f"{result['size']} {case} c{c}: missing")
                continue
            for key in ("requests", "requests_per_sec", "p50_ms", "p99_ms"):
                positive(f"{case} c{c} {key}", r[key])
    half = result["http"].get("personalize_for_you", {}).get("half_rate")
    if 8 in connections:
        if half is None:
            problems.append(f"{result['size']} personalize_for_you half_rate: missing")
        else:
            positive("personalize_for_you half_rate 2xx/s", half["ok_per_sec"])
            positive("personalize_for_you half_rate p99", half["ok_ms"]["p99"])
    verified = result["verified_auth"]["outcomes"].get("verified", 0)
    sent = sum(r["requests"] for case in ("verified_demo_viewer", "verified_for_you")
               for r in result["http"].get(case, {}).values())
    if verified < sent:
        problems.append(f"verified_for_you: the server verified {verified} tokens "
                        f"for {sent} requests")
    if not result["verified_auth"]["plc_fetches_known"]:
        problems.append("the PLC stand-in served no DID document")
    return problems


def machine():
    info = {"cpus": os.cpu_count(), "kernel": platform.release(), "cpu_model": None,
            "memory_bytes": None}
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^model name\s*:\s*(.+)$", f.read(), re.M)
            info["cpu_model"] = m.group(1).strip() if m else platform.machine()
        with open("/proc/meminfo") as f:
            info["memory_bytes"] = int(re.search(r"MemTotal:\s+(\d+) kB", f.read()).group(1)) * 1024
    except OSError:
        pass
    return info


def git_info():
    try:
        commit = run(["git", "rev-parse", "HEAD"]).stdout.strip()
        dirty = bool(run(["git", "status", "--porcelain", "--untracked-files=no"]).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty}


def fmt(value, digits=0):
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def markdown(report):
    results = report["results"]
    rows = [
        ("likes in the graph", lambda r: fmt(r["graph"]["likes"])),
        ("capture (MB, written in s)", lambda r: f"{r['capture']['bytes'] / 1e6:,.0f} MB, "
         + ("cached" if r["capture"]["cached"] else f"{r['capture']['write_seconds']} s")),
        ("replay (likes/s)", lambda r: f"{fmt(r['replay']['likes_per_sec'])} "
         f"({r['replay']['seconds']} s)"),
        ("bootstrap to ready (likes/s)", lambda r: f"{fmt(r['bootstrap']['likes_per_sec'])} "
         f"({r['bootstrap']['seconds']} s)"),
        ("graph memory (bytes/like)", lambda r: fmt(r["graph"]["bytes_per_like"], 1)),
        ("process RSS when ready (bytes/like)", lambda r: fmt(r["graph"]["rss_bytes_per_like"], 1)),
    ]
    for name in WALK_CLASSES:
        rows.append((f"walk {name}: likes of the viewer", lambda r, n=name: fmt(r["walk"][n]["likes"])))
        rows.append((f"walk {name}: personalize p50 / p99 (ms)",
                     lambda r, n=name: "{p50} / {p99}".format(**r["walk"][n]["latency_ms"])))
        rows.append((f"walk {name}: walk stage p50 / p99 (ms)",
                     lambda r, n=name: "{p50} / {p99}".format(**r["walk"][n]["walk_stage_ms"])))
    for case in CASES:
        for c in report["connections"]:
            rows.append((f"{case}, {c} conn: req/s, p50 / p99 (ms)",
                         lambda r, k=case, c=c: "{rps}, {p50_ms} / {p99_ms}".format(
                             rps=fmt(r["http"][k][f"c{c}"]["requests_per_sec"]),
                             **r["http"][k][f"c{c}"])))
    rows.append(("personalize_for_you, open loop at half the 8-conn rate: 2xx/s, "
                 "p50 / p99 (ms)",
                 lambda r: "{ok}, {p50} / {p99}".format(
                     ok=fmt(r["http"]["personalize_for_you"]["half_rate"]["ok_per_sec"]),
                     **r["http"]["personalize_for_you"]["half_rate"]["ok_ms"])))
    m = report["machine"]
    lines = [f"Machine: {m['cpus']} CPUs ({m['cpu_model']}), "
             f"{(m['memory_bytes'] or 0) / 2**30:.1f} GiB, Linux {m['kernel']}; "
             f"commit {(report['git']['commit'] or '?')[:10]}"
             f"{' (dirty)' if report['git']['dirty'] else ''}; binary {report['binary']}; "
             f"wrk {report['duration_s']} s per case.", "",
             "| metric | " + " | ".join(r["size"] for r in results) + " |",
             "|---|" + "---:|" * len(results)]
    def safe(cell, result):
        try:
            return cell(result)
        except (KeyError, TypeError):
            return "–"

    for title, cell in rows:
        lines.append(f"| {title} | " + " | ".join(safe(cell, r) for r in results) + " |")
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bin", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "feedmixer"))
    p.add_argument("--load-bin", default=None,
                   help="the open-loop load generator (default: feedmixer-load beside --bin)")
    p.add_argument("--sizes", default="1M,10M", help="comma-separated: 1M, 10M, 50M, ...")
    p.add_argument("--duration", type=int, default=10, help="seconds per wrk case")
    p.add_argument("--out", default=os.path.join(ROOT, "bench-out"))
    p.add_argument("--cache", default=None,
                   help=f"where captures and the stores are written (default {CACHE}; "
                        "with --smoke a fresh temporary dir)")
    p.add_argument("--smoke", action="store_true",
                   help="small capture, short runs, checks fields (for scripts/test)")
    args = p.parse_args()
    args.bin = os.path.abspath(args.bin)
    args.load_bin = os.path.abspath(args.load_bin or os.path.join(
        os.path.dirname(args.bin), "feedmixer-load"))
    if not os.access(args.load_bin, os.X_OK):
        raise SystemExit(f"{args.load_bin} is not an executable: "
                         "cargo build --release -p feedmixer -p feedmixer-load")
    if not os.access(args.bin, os.X_OK):
        raise SystemExit(f"{args.bin} is not an executable: cargo build --release -p feedmixer")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")
    if args.smoke:
        sizes, args.duration, args.warmup = ["small"], 2, 0
        args.connections, args.walk_requests = [1, 8], 20
    else:
        sizes, args.warmup = args.sizes.split(","), 2
        args.connections, args.walk_requests = CONNECTIONS, WALK_REQUESTS
    for size in sizes:
        parse_size(size)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    scratch = None
    if args.cache is None and args.smoke:
        # The small capture takes a second: written afresh by this binary.
        args.cache = scratch = tempfile.mkdtemp(prefix="feedmixer-bench-smoke-")
    args.cache = args.cache or CACHE
    os.makedirs(args.cache, exist_ok=True)
    os.makedirs(args.out, exist_ok=True)

    started = time.monotonic()
    report = {"bench": "feedmixer bench", "machine": machine(), "git": git_info(),
              "binary": args.bin, "smoke": args.smoke, "duration_s": args.duration,
              "connections": args.connections, "walk_requests": args.walk_requests,
              "http_max_queued": 2 * max(args.connections),
              "results": []}
    try:
        for size in sizes:
            report["results"].append(bench_size(args, size, args.cache))
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    report["wall_seconds"] = round(time.monotonic() - started, 1)

    table = markdown(report)
    with open(os.path.join(args.out, "bench.md"), "w") as f:
        f.write(table)
    with open(os.path.join(args.out, "bench.json"), "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    print(table, end="", flush=True)
    log(f"wrote {args.out}/bench.md and bench.json in {report['wall_seconds']} s")

    problems = [p for r in report["results"] for p in failures(r)]
    if args.smoke:
        problems += [p for r in report["results"] for p in sanity(r, args.connections)]
    if problems:
        print("\nFAILED:\n" + "\n".join("- " + p for p in problems), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
