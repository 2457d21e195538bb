#!/usr/bin/env python3
"""What serving from Redis costs: Redis commands and time per feed request,
and how fast a replica builds its graph from Redis.

Starts a throwaway redis-server on a free loopback port, then the release
binary on it:

1. `serve --demo` on the empty Redis (the full demo: 1M likes): time to
   ready, which includes loading the likes into Redis;
2. a second `serve` on the same Redis without --demo: time to ready is the
   graph bootstrap from Redis (scan of the like log + build), reported as
   likes per second;
3. per request kind, REQUESTS sequential requests with Redis' command
   counters reset before: commands per request (from INFO commandstats) and
   latency percentiles. Kinds: an anonymous trending page, a personalized
   first page (for-you, which keeps only what it served), the second page
   (recomputed without what the first served, its list kept in Redis), and
   the third page from that kept list, on the same and the other replica.

    bench/redis_round_trips.py [--requests 300] [--size full|small]

Needs redis-server and redis-cli (apt-get install redis-server).
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "feedmixer")
TOKEN = "bench-admin-token-16"
VIEWER = "did:plc:demoviewer22222222222222"
FEED = "at://did:plc:feedmixerdemopublisher222/app.bsky.feed.generator/"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_cli(port, *args):
    out = subprocess.run(
        ["redis-cli", "-p", str(port), *args], capture_output=True, text=True, check=True
    )
    return out.stdout


def commands(port):
    """Total calls over every command, from INFO commandstats."""
    total = 0
    for line in redis_cli(port, "INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_") and not line.startswith("cmdstat_info"):
            fields = dict(kv.split("=") for kv in line.split(":", 1)[1].split(","))
            total += int(fields["calls"])
    return total


def start_serve(redis_port, extra):
    port = free_port()
    env = dict(os.environ, FEEDMIXER_ADMIN_TOKEN=TOKEN, FEEDMIXER_CURSOR_KEY="bench", RUST_LOG="warn")
    proc = subprocess.Popen(
        [BIN, "serve", "--listen", f"127.0.0.1:{port}",
         "--redis-url", f"redis://127.0.0.1:{redis_port}", *extra],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    started = time.monotonic()
    base = f"http://127.0.0.1:{port}"
    while True:
        try:
            with urllib.request.urlopen(base + "/internal/ready", timeout=1) as r:
                if r.status == 200:
                    return proc, base, time.monotonic() - started
        except Exception:
            pass
        if proc.poll() is not None:
            raise SystemExit("serve exited")
        time.sleep(0.05)


def call(base, path, body=None):
    req = urllib.request.Request(base + path)
    if body is not None:
        req.data = json.dumps(body).encode()
        req.add_header("Content-Type", "application/json")
        req.add_header("Authorization", "Bearer " + TOKEN)
    started = time.perf_counter()
    with urllib.request.urlopen(req, timeout=10) as r:
        data = json.loads(r.read())
    return data, time.perf_counter() - started


def measure(redis_port, name, n, request):
    redis_cli(redis_port, "CONFIG", "RESETSTAT")
    times = []
    for _ in range(n):
        times.append(request())
    calls = commands(redis_port)
    times.sort()
    pct = lambda p: times[min(len(times) - 1, int(p * len(times)))] * 1000
    print(f"{name:38} {calls / n:5.2f} Redis commands/request   "
          f"p50 {pct(0.5):6.2f} ms  p99 {pct(0.99):6.2f} ms")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--size", default="full")
    args = ap.parse_args()
    for tool in ("redis-server", "redis-cli"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is missing: apt-get install redis-server")
    redis_port = free_port()
    tmp = tempfile.mkdtemp()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--dir", tmp],
        stdout=subprocess.DEVNULL,
    )
    procs = []
    try:
        time.sleep(0.3)
        a, base_a, secs = start_serve(redis_port, ["--demo", "--demo-size", args.size])
        procs.append(a)
        req = urllib.request.Request(base_a + "/v1/stats", headers={"Authorization": "Bearer " + TOKEN})
        likes = json.loads(urllib.request.urlopen(req).read())["likes"]
        print(f"first replica, demo loaded into Redis and graph built: {secs:.1f} s ({likes} likes)")
        b, base_b, secs = start_serve(redis_port, [])
        procs.append(b)
        print(f"second replica, graph bootstrapped from Redis: {secs:.2f} s "
              f"({likes / secs / 1e6:.2f} M likes/s, whole start included)")
        print(f"used_memory: {redis_cli(redis_port, 'INFO', 'memory').split('used_memory_human:')[1].split()[0]}")

        trending = f"/xrpc/app.bsky.feed.getFeedSkeleton?feed={FEED}trending&limit=30"
        measure(redis_port, "anonymous trending page", args.requests,
                lambda: call(base_a, trending)[1])
        first = {"user_did": VIEWER, "feed": "for-you", "limit": 30}
        measure(redis_port, "personalized first page", args.requests,
                lambda: call(base_a, "/v1/personalize", first)[1])
        page, _ = call(base_a, "/v1/personalize", first)
        second = dict(first, cursor=page["cursor"])
        measure(redis_port, "second page (recomputed)", args.requests,
                lambda: call(base_a, "/v1/personalize", second)[1])
        page, _ = call(base_a, "/v1/personalize", second)
        third = dict(first, cursor=page["cursor"])
        measure(redis_port, "third page (kept list, same replica)", args.requests,
                lambda: call(base_a, "/v1/personalize", third)[1])
        measure(redis_port, "third page (kept list, other replica)", args.requests,
                lambda: call(base_b, "/v1/personalize", third)[1])
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        redis.terminate()
        redis.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
