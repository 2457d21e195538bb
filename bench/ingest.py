#!/usr/bin/env python3
"""Live ingest at full speed: how many likes a second `feedmixer serve`
takes from Jetstream into its store and its graph, and how far the graph
trails the store.

Starts the release binary as `feedmixer serve` on a fresh (or given)
data dir, without the demo, with `--jetstream-url` pointing at a stand-in
that streams a capture (`feedmixer demo-capture FILE`, Jetstream JSONL)
as fast as the connection takes it, from the cursor the server asks for.
Every 0.25 s it reads `/v1/stats`: the events the ingester applied, the
likes the store created, and the likes in the graph. It reports the
rates over the middle of the run (from 10 % to 90 % of the events
applied, so connecting and the last partial batch do not count), the
graph's lag behind the store in likes and in seconds at that rate, and
how long after the last event was applied the graph had it.

    python3 bench/ingest.py --capture FILE [--bin BIN] [--data-dir DIR]
                            [--config FILE] [--out FILE.json] [--rate EVENTS_PER_SEC]

The capture's times must be inside the retention window (a capture made
today is); a like's time is when Jetstream saw it, not when it is sent.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

from harness import (ROOT, TOKEN, WebSocketServer, free_port, request, wait_ready,
                     ws_frame)

CURSOR = re.compile(r"[?&]cursor=(\d+)")
TIME_US = re.compile(rb'"time_us":(\d+)')
CHUNK_BYTES = 1 << 20
# The graph counts as current once its like count held this long.
STABLE_SECS = 3.0


class CaptureJetstream(WebSocketServer):
    """Sends every line of a capture from the client's cursor on, framed,
    as fast as the socket takes them (or at `rate` events/s); then stays
    connected, silent."""

    def __init__(self, capture, rate=None):
        self.capture = capture
        self.rate = rate
        self.sent = 0
        super().__init__()

    def pace(self, started):
        """Waits until the events sent so far are due at `rate`."""
        if self.rate:
            due = started + self.sent / self.rate
            ahead = due - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)

    def stream(self, conn, send_lock, closed, path):
        cursor = CURSOR.search(path)
        cursor = int(cursor.group(1)) if cursor else 0
        chunk = []
        size = 0
        started = time.monotonic()
        with open(self.capture, "rb") as lines:
            for line in lines:
                line = line.rstrip(b"\n")
                if not line:
                    continue
                if cursor:
                    t = TIME_US.search(line)
                    if t and int(t.group(1)) < cursor:
                        continue
                frame = ws_frame(line)
                chunk.append(frame)
                size += len(frame)
                self.sent += 1
                if size >= CHUNK_BYTES or (self.rate and len(chunk) >= self.rate // 100):
                    with send_lock:
                        conn.sendall(b"".join(chunk))
                    chunk, size = [], 0
                    self.pace(started)
                if closed.is_set():
                    return
        if chunk:
            with send_lock:
                conn.sendall(b"".join(chunk))
        closed.wait()


def count_events(capture):
    with open(capture, "rb") as f:
        return sum(1 for line in f if line.strip())


def snapshot(base):
    _, stats = request(base + "/v1/stats", TOKEN)
    ingest = stats.get("ingest") or {}
    return {"t": time.monotonic(), "graph_likes": stats["likes"],
            "applied": ingest.get("events_applied") or 0,
            "created": ingest.get("created") or 0,
            "lag_secs": ingest.get("lag_secs")}


def rate(samples, key, lo, hi):
    """Per second of `key` between the first samples past `lo` and `hi`."""
    a = next(s for s in samples if s[key] >= lo)
    b = next(s for s in samples if s[key] >= hi)
    return round((b[key] - a[key]) / max(b["t"] - a["t"], 1e-9))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "feedmixer"))
    p.add_argument("--capture", required=True, help="Jetstream JSONL (feedmixer demo-capture)")
    p.add_argument("--data-dir", help="the store to ingest into (default: a fresh one)")
    p.add_argument("--config", default=os.path.join(ROOT, "config", "feedmixer.toml"))
    p.add_argument("--timeout", type=int, default=3600, help="seconds for the whole capture")
    p.add_argument("--out", help="write the report here as JSON too")
    p.add_argument("--rate", type=int,
                   help="events per second to send (default: as fast as the socket takes them)")
    args = p.parse_args()
    if not os.access(args.bin, os.X_OK):
        raise SystemExit(f"{args.bin} is not an executable: build it first")
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    events = count_events(args.capture)
    work = tempfile.mkdtemp(prefix="fm-ingest-")
    data_dir = args.data_dir or os.path.join(work, "data")
    jet = CaptureJetstream(args.capture, args.rate)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FEEDMIXER_") and k not in ("REDIS_URL", "REDIS_CLUSTER_NODES")}
    env.update(FEEDMIXER_ADMIN_TOKEN=TOKEN, RUST_LOG=os.environ.get("RUST_LOG", "warn"))
    log_path = os.path.join(work, "server.log")
    server = None
    try:
        with open(log_path, "w") as log:
            server = subprocess.Popen(
                [args.bin, "serve", "--config", args.config, "--data-dir", data_dir,
                 "--listen", f"127.0.0.1:{port}",
                 "--jetstream-url", f"ws://127.0.0.1:{jet.port}"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_ready(base, process=server)
        start = snapshot(base)
        samples = [start]
        deadline = time.monotonic() + args.timeout
        while samples[-1]["applied"] - start["applied"] < events:
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"applied {samples[-1]['applied'] - start['applied']} of "
                                 f"{events} events; see {log_path}")
            time.sleep(0.25)
            samples.append(snapshot(base))
        all_applied = samples[-1]
        final_created = all_applied["created"]
        # The graph is current once its count stops moving (it counts
        # pairs, the store records, so the two need not be equal).
        while time.monotonic() < deadline:
            time.sleep(0.05)
            samples.append(snapshot(base))
            recent = [s for s in samples if s["t"] >= samples[-1]["t"] - STABLE_SECS]
            if (samples[-1]["t"] - all_applied["t"] >= STABLE_SECS
                    and len({s["graph_likes"] for s in recent}) == 1):
                break
        final_graph = samples[-1]["graph_likes"]
        caught_up = next(s for s in samples
                         if s["t"] >= all_applied["t"] and s["graph_likes"] == final_graph)
    finally:
        jet.stop()
        if server is not None:
            server.terminate()
            server.wait(timeout=60)

    applied0, created0 = start["applied"], start["created"]
    lo, hi = applied0 + events // 10, applied0 + events * 9 // 10
    middle = [s for s in samples if lo <= s["applied"] <= hi]
    likes_per_sec = rate(samples, "created", created0 + (final_created - created0) // 10,
                         created0 + (final_created - created0) * 9 // 10)
    # The graph's lag: likes the store has and the graph not yet.
    lags = [s["created"] - created0 - (s["graph_likes"] - start["graph_likes"])
            for s in middle]
    report = {
        "capture": args.capture,
        "rate_asked": args.rate,
        "events": events,
        "likes_created": final_created - created0,
        "seconds_to_apply_all": round(all_applied["t"] - start["t"], 2),
        "events_per_sec_middle": rate(samples, "applied", lo, hi),
        "likes_per_sec_middle": likes_per_sec,
        "graph_lag_likes_max": max(lags, default=0),
        "graph_lag_likes_median": sorted(lags)[len(lags) // 2] if lags else 0,
        "graph_lag_secs_max": round(max(lags, default=0) / max(likes_per_sec, 1), 2),
        "graph_current_after_secs": round(max(caught_up["t"] - all_applied["t"], 0), 2),
        "graph_likes": caught_up["graph_likes"],
        "ingest_lag_secs_end": all_applied["lag_secs"],
        "server_log": log_path,
    }
    print(json.dumps(report, indent=2))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
