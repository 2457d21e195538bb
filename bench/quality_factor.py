#!/usr/bin/env python3
"""Drives the for-you flow past saturation, with the quality factor on and off.

Starts the release binary on the full demo dataset twice: once with the
flow's quality factor free to move (target: the flow's p95 at TARGET_MS),
once pinned at 1.0 (min = max = 1). Each run: a warm-up past the initial
delay, then wrk with CONNECTIONS concurrent personalized requests for
DURATION seconds. Prints throughput, wrk's latency percentiles, the flow's
p95 from its Prometheus histogram, and where the quality factor settled.

    bench/quality_factor.py [--connections 32] [--duration 30] [--target-ms 10]

Needs wrk (apt-get install wrk).
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile

from harness import get, wait_ready

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "feedmixer")
TOKEN = "bench-admin-token-16"
LUA = """
wrk.method = "POST"
wrk.body   = '{"user_did":"did:plc:demoviewer22222222222222","feed":"for-you","limit":30}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
""" % TOKEN


def set_quality_factor(flow_file, table):
    text = open(flow_file).read()
    text = re.sub(r"\[quality_factor\][^\[]*", "", text)
    open(flow_file, "w").write(text + "\n[quality_factor]\n" + table + "\n")


def buckets_of(metrics, name, labels):
    buckets = {}
    for line in metrics.splitlines():
        if line.startswith(name + "_bucket{") and labels in line:
            le = re.search(r'le="([^"]+)"', line).group(1)
            buckets[float("inf") if le == "+Inf" else float(le)] = float(line.split()[-1])
    return buckets


def histogram_quantile(before, after, name, labels, q):
    """The q-quantile of what the histogram observed between two scrapes."""
    b0, b1 = buckets_of(before, name, labels), buckets_of(after, name, labels)
    buckets = sorted((le, count - b0.get(le, 0.0)) for le, count in b1.items())
    total = buckets[-1][1]
    rank = q * total
    prev_le, prev_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * (rank - prev_count) / max(count - prev_count, 1e-9)
        prev_le, prev_count = le, count
    return prev_le


def run(name, table, data_dir, args, port):
    work = tempfile.mkdtemp(prefix="fm-bench-")
    shutil.copytree(os.path.join(ROOT, "flows"), os.path.join(work, "flows"))
    shutil.copytree(os.path.join(ROOT, "config"), os.path.join(work, "config"))
    set_quality_factor(os.path.join(work, "flows", "for-you.toml"), table)
    lua = os.path.join(work, "p.lua")
    open(lua, "w").write(LUA)
    env = dict(os.environ, FEEDMIXER_ADMIN_TOKEN=TOKEN, RUST_LOG="warn")
    server = subprocess.Popen(
        [BIN, "serve", "--demo", "--data-dir", data_dir, "--listen", f"127.0.0.1:{port}",
         "--flows", os.path.join(work, "flows"), "--config", os.path.join(work, "config", "feedmixer.toml")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base)
        url = base + "/v1/personalize"
        subprocess.run(["wrk", "-t2", f"-c{args.connections}", "-d5s", "-s", lua, url],
                       check=True, capture_output=True)
        before = get(base + "/metrics")
        out = subprocess.run(["wrk", "-t2", f"-c{args.connections}", f"-d{args.duration}s", "--latency",
                              "-s", lua, url], check=True, capture_output=True, text=True).stdout
        metrics = get(base + "/metrics")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait()
        shutil.rmtree(work)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    pct = dict(re.findall(r"\s+(\d+)%\s+([\d.]+\w+)", out))
    flow_p95 = histogram_quantile(before, metrics, "feedmixer_flow_duration_seconds", 'flow="for-you"', 0.95)
    qf = re.search(r'feedmixer_quality_factor\{flow="for-you"\} ([\d.e-]+)', metrics).group(1)
    return {"variant": name, "requests_per_sec": rps, "http_p50": pct.get("50"), "http_p90": pct.get("90"),
            "http_p99": pct.get("99"), "flow_p95_ms": round(flow_p95 * 1000, 2),
            "quality_factor": float(qf)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--duration", type=int, default=30)
    p.add_argument("--target-ms", type=float, default=10.0)
    args = p.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "feedmixer"], cwd=ROOT, check=True)
    data_dir = tempfile.mkdtemp(prefix="fm-bench-data-")
    common = f"initial_delay_secs = 0\ntarget_percentile = 95.0\ntarget_latency_ms = {args.target_ms}\n"
    results = [
        run("with quality factor", common + "delta = 0.002\nmin = 0.05", data_dir, args, 18301),
        run("without (pinned at 1.0)", common + "min = 1.0\nmax = 1.0", data_dir, args, 18302),
    ]
    shutil.rmtree(data_dir)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
