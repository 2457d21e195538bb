#!/usr/bin/env python3
"""Instructions per request, counted by callgrind: a noise-free comparison
of two builds on a machine whose throughput drifts (a shared VM).

Fills a data dir with the full demo once (native run), then for each binary
runs `serve` on it under `valgrind --tool=callgrind` with instrumentation off,
warms up, turns it on for REQUESTS sequential requests of each case,
and reads the instruction count. Flows are copied with budgets and deadlines
raised and the quality factor pinned at 1, so the slow (emulated) run takes
the same code path as a native one.

    bench/request_instructions.py BIN [BIN...] [--requests 100]

Cases: getFeedSkeleton `trending` (anonymous, limit 30), /v1/personalize
`for-you` for the demo viewer (limit 30, a full walk), and getFeedSkeleton
`for-you` for the demo viewer with an ES256 service JWT (`verified`: the
same walk, the token verified on every request against the DID document a
PLC stand-in here serves, cached after the warm-up). Needs valgrind.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

from harness import FEED_METHOD, Viewer, start_plc, wait_ready

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "bench-admin-token-16"
PUBLISHER = "did:plc:feedmixerdemopublisher222"
FEED = f"at://{PUBLISHER}/app.bsky.feed.generator/trending"
FOR_YOU = f"at://{PUBLISHER}/app.bsky.feed.generator/for-you"
# The shipped config's service_did: the audience of viewers' tokens.
SERVICE = "did:web:localhost"
VIEWER = "did:plc:demoviewer22222222222222"


def request(base, case, token=None):
    if case == "trending":
        req = urllib.request.Request(f"{base}/xrpc/{FEED_METHOD}?feed={FEED}&limit=30")
    elif case == "verified":
        req = urllib.request.Request(f"{base}/xrpc/{FEED_METHOD}?feed={FOR_YOU}&limit=30")
        req.add_header("Authorization", "Bearer " + token)
    else:
        body = json.dumps({"user_did": VIEWER, "feed": "for-you", "limit": 30}).encode()
        req = urllib.request.Request(f"{base}/v1/personalize", data=body, method="POST")
        req.add_header("Content-Type", "application/json")
        req.add_header("Authorization", "Bearer " + TOKEN)
    with urllib.request.urlopen(req, timeout=120) as r:
        assert r.status == 200
        return r.read()


def relaxed_flows(work):
    """The shipped flows with generous budgets and a pinned quality factor."""
    flows = os.path.join(work, "flows")
    shutil.copytree(os.path.join(ROOT, "flows"), flows)
    for name in os.listdir(flows):
        path = os.path.join(flows, name)
        text = open(path).read()
        text = re.sub(r"budget_ms = \d+", "budget_ms = 10000", text)
        text = re.sub(r"\[quality_factor\][^\[]*", "", text)
        text = re.sub(r"^deadline_ms = \d+\n", "", text, flags=re.M)
        text = "deadline_ms = 60000\n" + text + "\n[quality_factor]\nmin = 1.0\nmax = 1.0\n"
        open(path, "w").write(text)
    return flows


def measure(binary, data, flows, requests, port, plc_url, token):
    out = tempfile.mktemp(prefix="callgrind-")
    env = dict(os.environ, FEEDMIXER_ADMIN_TOKEN=TOKEN, RUST_LOG="warn")
    server = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
         binary, "serve", "--data-dir", data, "--flows", flows, "--listen", f"127.0.0.1:{port}",
         "--plc-url", plc_url],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    counts = {}
    try:
        wait_ready(base, 900)
        for case in ["trending", "for-you", "verified"]:
            for _ in range(10):
                request(base, case, token)
            subprocess.run(["callgrind_control", "--zero", str(server.pid)], check=True, capture_output=True)
            subprocess.run(["callgrind_control", "-i", "on", str(server.pid)], check=True, capture_output=True)
            for _ in range(requests):
                request(base, case, token)
            subprocess.run(["callgrind_control", "-i", "off", str(server.pid)], check=True, capture_output=True)
            dump = subprocess.run(["callgrind_control", "--dump", str(server.pid)], check=True,
                                  capture_output=True, text=True)
            time.sleep(2)
            total = 0
            for name in os.listdir(os.path.dirname(out)):
                path = os.path.join(os.path.dirname(out), name)
                if name.startswith(os.path.basename(out)):
                    text = open(path, errors="replace").read()
                    for m in re.finditer(r"^totals: (\d+)", text, re.M):
                        total += int(m.group(1))
                    os.remove(path)
            counts[case] = total // requests
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
    return counts


def main():
    p = argparse.ArgumentParser()
    p.add_argument("binaries", nargs="+")
    p.add_argument("--requests", type=int, default=100)
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="fm-instr-")
    data = os.path.join(work, "data")
    env = dict(os.environ, FEEDMIXER_ADMIN_TOKEN=TOKEN, RUST_LOG="warn")
    filler = subprocess.Popen([args.binaries[0], "serve", "--demo", "--data-dir", data, "--listen", "127.0.0.1:18399"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready("http://127.0.0.1:18399", 300)
    filler.send_signal(signal.SIGTERM)
    filler.wait()
    flows = relaxed_flows(work)
    viewer = Viewer(VIEWER)
    plc, _ = start_plc([viewer])
    plc_url = f"http://127.0.0.1:{plc.server_address[1]}"
    token = viewer.token(SERVICE, FEED_METHOD, 24 * 3600)
    try:
        for i, binary in enumerate(args.binaries):
            counts = measure(binary, data, flows, args.requests, 18400 + i, plc_url, token)
            print(json.dumps({"binary": binary, "requests": args.requests,
                              "instructions_per_request": counts}), flush=True)
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
