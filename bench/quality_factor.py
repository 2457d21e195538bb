#!/usr/bin/env python3
"""Overload: the for-you flow offered several times the load that saturates
it, with the quality factor and load shedding as shipped, with the factor
pinned at 1.0, and with shedding off.

Starts the release binary on the full demo dataset (`serve --demo`):

1. Saturation: wrk, 8 connections of personalized for-you requests (demo
   viewer), shipped config: the requests/s the server reaches.
2. For each variant, a fresh server, a warm-up at the overload rate (past
   the factor's initial delay, which is set to 0), then `feedmixer-load`
   (crates/load: open loop, each request sent when due and timed from
   then, so queueing shows) at FACTOR x saturation for DURATION seconds
   over CONNECTIONS connections:
   - `shipped`: quality factor free (the flow's own target) and shedding
     as shipped (`[http]` max_in_flight 4 and max_queued 16 per core);
   - `q pinned at 1.0`: `[quality_factor] min = max = 1`;
   - `shedding off`: `[http] max_in_flight = 0` (no bound on the queue).
   Each: 2xx/s, 503s (and how many carried Retry-After), errors, latency
   of 2xx answers p50/p95/p99 as the client saw it, the flow's p95 from
   its Prometheus histogram, and where the factor settled.

    bench/quality_factor.py [--factor 3] [--duration 20] [--connections 128]
                            [--target-ms 50] [--json]

Needs wrk (apt-get install wrk); builds feedmixer and feedmixer-load.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

from harness import (PERSONALIZE_BODY, PERSONALIZE_HEADERS, ROOT, TOKEN, get, open_loop,
                     post_lua, wait_ready, wrk)

BIN_DIR = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")),
                       "release")


def log(message):
    print(f"[overload] {message}", file=sys.stderr, flush=True)


def set_table(path, table, lines):
    """Replaces TOML table `[table]` of the file at `path` with `lines`."""
    text = open(path).read()
    text = re.sub(r"^\[%s\][^\[]*" % re.escape(table), "", text, flags=re.M)
    open(path, "w").write(text.rstrip() + f"\n\n[{table}]\n" + "\n".join(lines) + "\n")


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
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    prev_le, prev_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * (rank - prev_count) / max(count - prev_count, 1e-9)
        prev_le, prev_count = le, count
    return prev_le


class Server:
    """`serve --demo` on copies of flows/ and config/ edited by `edit`."""

    def __init__(self, data_dir, port, edit):
        self.work = tempfile.mkdtemp(prefix="fm-overload-")
        flows = os.path.join(self.work, "flows")
        config = os.path.join(self.work, "config")
        shutil.copytree(os.path.join(ROOT, "flows"), flows)
        shutil.copytree(os.path.join(ROOT, "config"), config)
        edit(os.path.join(flows, "for-you.toml"), os.path.join(config, "feedmixer.toml"))
        env = dict(os.environ, FEEDMIXER_ADMIN_TOKEN=TOKEN, RUST_LOG="warn")
        self.process = subprocess.Popen(
            [os.path.join(BIN_DIR, "feedmixer"), "serve", "--demo", "--data-dir", data_dir,
             "--listen", f"127.0.0.1:{port}", "--flows", flows,
             "--config", os.path.join(config, "feedmixer.toml")],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{port}"
        wait_ready(self.base, process=self.process)

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait()
        shutil.rmtree(self.work)


def variants(target_ms):
    def quality_factor(pinned):
        def edit(flow, _config):
            lines = ["initial_delay_secs = 0", "target_percentile = 95.0",
                     f"target_latency_ms = {target_ms}"]
            set_table(flow, "quality_factor", lines + (["min = 1.0", "max = 1.0"] if pinned else []))
        return edit

    def shedding_off(flow, config):
        quality_factor(False)(flow, config)
        set_table(config, "http", ["max_in_flight = 0"])

    return [("shipped", quality_factor(False)),
            ("q pinned at 1.0", quality_factor(True)),
            ("shedding off", shedding_off)]


def measure(load, name, server, rate, args):
    url = server.base + "/v1/personalize"
    log(f"{name}: warm-up, {rate:.0f} req/s offered for 5 s")
    open_loop(load, url, rate, 5, 0, body=PERSONALIZE_BODY, headers=PERSONALIZE_HEADERS,
              connections=args.connections)
    before = get(server.base + "/metrics")
    log(f"{name}: {rate:.0f} req/s offered for {args.duration} s")
    r = open_loop(load, url, rate, args.duration, 0, body=PERSONALIZE_BODY,
                  headers=PERSONALIZE_HEADERS, connections=args.connections)
    after = get(server.base + "/metrics")
    flow_p95 = histogram_quantile(before, after, "feedmixer_flow_duration_seconds",
                                  'flow="for-you"', 0.95)
    q = re.search(r'feedmixer_quality_factor\{flow="for-you"\} ([\d.e+-]+)', after)
    return {"variant": name, "offered_per_sec": round(rate), "ok_per_sec": round(r["ok_per_sec"]),
            "status": r["status"], "errors": r["errors"], "retry_after_503": r["retry_after_503"],
            "ok_ms": r["ok_ms"], "ok_service_ms": r["ok_service_ms"], "wall_s": r["wall_s"],
            "flow_p95_ms": None if flow_p95 is None else round(flow_p95 * 1e3, 1),
            "quality_factor": float(q.group(1)) if q else None,
            "late_wakeups": r["late_wakeups"]}


def markdown(saturation, results, args):
    lines = [f"Saturation (wrk, 8 connections, shipped): {saturation:,.0f} requests/s; offered "
             f"{args.factor}x = {results[0]['offered_per_sec']:,} requests/s, open loop over "
             f"{args.connections} connections, {args.duration} s; flow target p95 "
             f"{args.target_ms} ms.", "",
             "| variant | 2xx/s (over s) | 503 (with Retry-After) | errors | 2xx p50 / p95 / p99 "
             "from due | 2xx p50 / p95 / p99 from sent | flow p95 | q settled | late wake-ups |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        shed = r["status"].get("503", 0)
        due, sent = r["ok_ms"], r["ok_service_ms"]
        lines.append(f"| {r['variant']} | {r['ok_per_sec']:,} ({r['wall_s']:.1f} s) "
                     f"| {shed:,} ({r['retry_after_503']:,}) | {r['errors']:,} "
                     f"| {due['p50']:.1f} / {due['p95']:.1f} / {due['p99']:.1f} ms "
                     f"| {sent['p50']:.1f} / {sent['p95']:.1f} / {sent['p99']:.1f} ms "
                     f"| {r['flow_p95_ms']} ms | {r['quality_factor']} | {r['late_wakeups']:,} |")
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--factor", type=float, default=3.0, help="offered load / saturation")
    p.add_argument("--duration", type=int, default=20)
    p.add_argument("--connections", type=int, default=128)
    p.add_argument("--target-ms", type=float, default=50.0, help="the flow's p95 target")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "feedmixer", "-p", "feedmixer-load"],
                   cwd=ROOT, check=True)
    load = os.path.join(BIN_DIR, "feedmixer-load")
    data_dir = tempfile.mkdtemp(prefix="fm-overload-data-")
    lua = os.path.join(data_dir, "personalize.lua")
    open(lua, "w").write(post_lua(PERSONALIZE_BODY))
    try:
        all_variants = variants(args.target_ms)
        server = Server(data_dir, 18301, all_variants[0][1])
        try:
            wrk(server.base + "/v1/personalize", 8, 3, lua)
            saturation = wrk(server.base + "/v1/personalize", 8, 10, lua)["requests_per_sec"]
        finally:
            server.stop()
        log(f"saturation: {saturation:.0f} req/s at 8 connections")
        rate = args.factor * saturation
        results = []
        for port, (name, edit) in enumerate(all_variants, start=18302):
            server = Server(data_dir, port, edit)
            try:
                results.append(measure(load, name, server, rate, args))
            finally:
                server.stop()
    finally:
        shutil.rmtree(data_dir)
    if args.json:
        print(json.dumps({"saturation_per_sec": saturation, "results": results}, indent=1))
    else:
        print(markdown(saturation, results, args), end="")


if __name__ == "__main__":
    main()
