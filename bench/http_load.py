#!/usr/bin/env python3
"""HTTP throughput and latency of the shipped binary on the full demo.

Starts `feedmixer serve --demo` (release build, 1M likes) on a fresh data
dir, waits until it is ready, then for each case runs wrk for a warm-up and
for DURATION seconds:

- getFeedSkeleton `trending`, anonymous, limit 30, 16 connections;
- /v1/personalize `for-you` for the demo viewer, limit 30, 8 connections
  (a full walk at Graze's default caps per request).

    bench/http_load.py [--bin target/release/feedmixer] [--duration 20] [--runs 1]

Without --bin it builds the release binary first. Prints one JSON object
per case and run. Needs wrk (apt-get install wrk).
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import tempfile

from harness import PERSONALIZE_BODY, ROOT, TOKEN, post_lua, wrk, wait_ready

PUBLISHER = "did:plc:feedmixerdemopublisher222"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", default=None, help="binary to measure (default: build release)")
    p.add_argument("--duration", type=int, default=20)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--port", type=int, default=18311)
    args = p.parse_args()
    binary = args.bin
    if binary is None:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "feedmixer"], cwd=ROOT, check=True)
        binary = os.path.join(ROOT, "target", "release", "feedmixer")
    work = tempfile.mkdtemp(prefix="fm-http-")
    script = os.path.join(work, "personalize.lua")
    open(script, "w").write(post_lua(PERSONALIZE_BODY))
    env = dict(os.environ, FEEDMIXER_ADMIN_TOKEN=TOKEN, RUST_LOG="warn")
    server = subprocess.Popen(
        [binary, "serve", "--demo", "--data-dir", os.path.join(work, "data"),
         "--listen", f"127.0.0.1:{args.port}"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{args.port}"
    feed = f"at://{PUBLISHER}/app.bsky.feed.generator/trending"
    cases = [
        ("getFeedSkeleton trending", f"{base}/xrpc/app.bsky.feed.getFeedSkeleton?feed={feed}&limit=30", 16, None),
        ("personalize for-you", f"{base}/v1/personalize", 8, script),
    ]
    try:
        wait_ready(base)
        for run in range(args.runs):
            for name, url, connections, lua in cases:
                wrk(url, connections, 5, lua)
                result = wrk(url, connections, args.duration, lua)
                print(json.dumps({"case": name, "run": run, "connections": connections, **result}), flush=True)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait()
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
