#!/usr/bin/env python3
"""Soak: mixed traffic at a fraction of saturation, with live ingest, for
a long run: no 5xx, resident memory flat after warm-up (issue 12).

Starts the release binary as `feedmixer serve --demo` on a fresh data dir
(loopback only, admin token set; admin routes share the public port so one
wrk run mixes them), with two stand-ins this script runs on 127.0.0.1:

- a PLC directory (`--plc-url`) answering `GET /{did}` with the DID
  document of each of VIEWERS synthetic viewers, whose `#atproto` key is a
  P-256 Multikey; the script signs their ES256 service JWTs itself (one
  for getFeedSkeleton, one for sendInteractions per viewer);
- a Jetstream (`--jetstream-url`, a hand-written RFC 6455 server) that
  first sends each viewer a few likes of demo posts (so the graph knows
  them and their feeds are personalized), then streams like and post
  creates at INGEST_RATE events/s with increasing `time_us`: likes of
  demo posts and of the posts it streamed (some about Rust, some
  Norwegian), by the viewers and by other synthetic accounts.

Before load it checks that a viewer's token verifies (a non-empty for-you
page, `feedmixer_viewer_auth_total{outcome="verified"}` up by one), that
sendInteractions answers 200, and that ingest applies what was sent.

The traffic is bench/soak.lua under wrk, one connection per thread (so a
response is known to answer the connection's last request); in percent: 40 anonymous getFeedSkeleton (trending,
trending-day, discover, norsk, rust, for-you), 25 verified for-you, 15
paging continuations (the cursor of the connection's last page, same feed
and token, up to 5 pages deep), 10 sendInteractions (verified; posts the
connection was served), 5 GET /v1/stats, 5 GET /v1/feeds/{curated,rust}/pool.

1. Saturation: the mix unpaced on CONNECTIONS (32, as the soak: wrk runs
   a thread per connection, and 32 threads take CPU from the server that
   8 do not, so saturation is measured on the same setup) for SATURATION
   seconds (after 5 s of warm-up): its requests/s.
2. Soak: the mix paced at RATE_FRACTION of that for DURATION seconds, on
   SOAK_CONNECTIONS (32) connections, each kept on a schedule by wrk's
   `delay()` (with 8, a connection whose answer comes late cannot catch
   up: a run fell 5 % short of its rate). Every 10 s the server's VmRSS
   is sampled, with the graph's `memory_bytes` (which grows with ingest),
   the paging caches' weighed bytes (`/v1/stats` `sessions`, which grow up
   to their `[sessions]` bounds) and the size of the store file; growth is measured from the first
   sample at or after WARMUP seconds to the last.

    bench/soak.py [--bin target/release/feedmixer] [--duration 600] [--warmup 60]
                  [--rate-fraction 0.7] [--ingest-rate 200] [--viewers 200]
                  [--connections 32] [--soak-connections 32] [--demo-size full]
                  [--config config/feedmixer.toml] [--data-dir DIR]

With `--data-dir`, serves that store (no `--demo`): the way to soak at a
size other than the demo's, e.g. the 10M store `bench/bench.py` replays.

Prints one JSON object: saturation and target rate, achieved rate and
latency, status counts per class and per request kind (counted in Lua, so
5xx and 4xx are exact), the RSS series and growth, ingest before and
after, and /metrics deltas over the soak (requests by status, viewer auth
outcomes, interactions, paging lookups, ingest events), plus the server's
WARN/ERROR log lines if any. Exits 1 if any request got a 5xx. Needs wrk
(apt-get install wrk). Does not build: run
`cargo build --release -p feedmixer` first.
"""

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from datetime import datetime, timezone

from harness import (FEED_METHOD, TOKEN, Viewer, WebSocketServer, by_label, free_port, get,
                     parse_metrics, plc_did, request, start_plc, wait_ready, ws_frame)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LUA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "soak.lua")
INTERACT_METHOD = "app.bsky.feed.sendInteractions"
ANON_FEEDS = ["trending", "trending-day", "discover", "norsk", "rust", "for-you"]
VERIFIED_FEED = "for-you"
POOL_FEEDS = ["curated", "rust"]
# Percent of requests per kind (bench/soak.lua names them).
MIX = {"anon": 40, "verified": 25, "page": 15, "interact": 10, "stats": 5, "pool": 5}
MAX_PAGES = 5
SAMPLE_EVERY = 10
S32 = "234567abcdefghijklmnopqrstuvwxyz"
CID = "bafyreigroo6vhxt62ufcndhaxzas6btq4jmniuvmjkdkm76hgwxjw3rj6e"


# --- Jetstream stand-in ----------------------------------------------------

def tid(time_us, clock_id):
    value = (time_us << 10) | (clock_id & 1023)
    return "".join(S32[(value >> (5 * (12 - i))) & 31] for i in range(13))


def iso(time_us):
    t = datetime.fromtimestamp(time_us / 1e6, tz=timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


class Jetstream(WebSocketServer):
    """Streams like and post creates to whoever connects, at `rate` a
    second."""

    WORDS = ("today the weather code coffee music photo cats dogs news game "
             "garden books train city night morning friends art").split()
    LANGS = ["en"] * 7 + ["nb", "pt", "ja"]

    def __init__(self, viewers, rate, seed_likes, post_share):
        self.viewers = [v.did for v in viewers]
        self.users = [plc_did(f"soak-liker-{i}") for i in range(2000)]
        self.authors = [plc_did(f"soak-author-{i}") for i in range(300)]
        self.rate = rate
        self.seed_likes = seed_likes
        self.post_share = post_share
        self.rng = random.Random(12)
        self.lock = threading.Lock()
        self.demo_posts = []
        self.new_posts = []
        self.last_us = 0
        self.sent = Counter()
        self.seeded = False
        self.posts_ready = threading.Event()
        super().__init__()

    def start_streaming(self, demo_posts):
        self.demo_posts = list(demo_posts)
        self.posts_ready.set()

    def _time_us(self):
        self.last_us = max(self.last_us + 1, time.time_ns() // 1000)
        return self.last_us

    def _like(self, did, subject):
        t = self._time_us()
        self.sent["likes"] += 1
        return {"did": did, "time_us": t, "kind": "commit", "commit": {
            "rev": tid(t, 1), "operation": "create", "collection": "app.bsky.feed.like",
            "rkey": tid(t, 7), "cid": CID, "record": {
                "$type": "app.bsky.feed.like", "createdAt": iso(t),
                "subject": {"cid": CID, "uri": subject}}}}

    def _post(self):
        t = self._time_us()
        did = self.rng.choice(self.authors)
        rkey = tid(t, 3)
        words = self.rng.sample(self.WORDS, 6)
        if self.rng.random() < 0.05:
            words.insert(2, "rust")
        record = {"$type": "app.bsky.feed.post", "text": " ".join(words),
                  "createdAt": iso(t), "langs": [self.rng.choice(self.LANGS)]}
        self.new_posts.append(f"at://{did}/app.bsky.feed.post/{rkey}")
        if len(self.new_posts) > 20000:
            del self.new_posts[:10000]
        self.sent["posts"] += 1
        return {"did": did, "time_us": t, "kind": "commit", "commit": {
            "rev": tid(t, 1), "operation": "create", "collection": "app.bsky.feed.post",
            "rkey": rkey, "cid": CID, "record": record}}

    def _subject(self):
        rng = self.rng
        if self.new_posts and rng.random() < 0.3:
            recent = min(len(self.new_posts), 2000)
            return self.new_posts[-1 - int(recent * rng.random() ** 2)]
        return self.demo_posts[int(len(self.demo_posts) * rng.random() ** 3)]

    def _event(self):
        rng = self.rng
        if rng.random() < self.post_share:
            return self._post()
        liker = rng.choice(self.viewers if rng.random() < 0.5 else self.users)
        return self._like(liker, self._subject())

    def _seed(self):
        """Each viewer's first likes, at once: the graph knows them."""
        events = [self._like(did, self.rng.choice(self.demo_posts))
                  for did in self.viewers for _ in range(self.seed_likes)]
        self.sent["seed_likes"] += len(events)
        return events

    def stream(self, conn, send_lock, closed, path):
        self.sent["connections"] += 1
        while not self.posts_ready.wait(0.5):
            if self.stopping.is_set() or closed.is_set():
                return
        with self.lock:
            events = [] if self.seeded else self._seed()
            self.seeded = True
        start, done = time.monotonic(), 0
        while not (self.stopping.is_set() or closed.is_set()):
            due = int((time.monotonic() - start) * self.rate) - done
            with self.lock:
                events += [self._event() for _ in range(min(due, self.rate))]
            done += due
            if events:
                data = b"".join(ws_frame(json.dumps(e, separators=(",", ":")).encode())
                                for e in events)
                with send_lock:
                    conn.sendall(data)
                events = []
            time.sleep(0.02)


# --- the server, its metrics and memory ------------------------------------

def metric_deltas(before, after):
    delta = {}
    for name, label in [("feedmixer_http_requests_total", "status"),
                        ("feedmixer_http_requests_total", "route"),
                        ("feedmixer_viewer_auth_total", "outcome"),
                        ("feedmixer_interactions_total", "event"),
                        ("feedmixer_session_lookups_total", "result"),
                        ("feedmixer_cursor_restarts_total", ""),
                        ("feedmixer_did_resolutions_total", "outcome"),
                        ("feedmixer_did_cache_lookups_total", "result"),
                        ("feedmixer_ingest_events_total", "result"),
                        ("feedmixer_ingest_reconnects_total", ""),
                        ("feedmixer_component_failures_total", "outcome"),
                        ("feedmixer_graph_rebuilds_total", "result")]:
        a, b = by_label(after, name, label), by_label(before, name, label)
        d = {k: int(a[k] - b.get(k, 0)) for k in sorted(a) if a[k] - b.get(k, 0)}
        delta[name[len("feedmixer_"):] + (f"_by_{label}" if label else "")] = d
    return delta


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def sessions_mib(sessions):
    """The paging caches' weighed bytes (lists and served sets), which grow
    up to their `[sessions]` bounds."""
    served = (sessions.get("served") or {}).get("bytes", 0)
    return round((sessions.get("list_bytes", 0) + served) / 2**20, 1)


def ingest_snapshot(base):
    _, stats = request(base + "/v1/stats", TOKEN)
    ingest = stats.get("ingest") or {}
    return {"likes": stats["likes"], "posts": stats["posts"],
            "indexed_posts": stats["indexed_posts"],
            "graph_memory_mib": round(stats["memory_bytes"] / 2**20, 1),
            "sessions_mib": sessions_mib(stats.get("sessions") or {}),
            **{k: ingest.get(k) for k in ("events_applied", "created", "posts_created",
                                          "duplicates", "invalid", "bot", "store_errors",
                                          "lag_secs", "connections")}}


def demo_posts(base, feeds):
    """Post URIs the demo serves: a few anonymous pages of each feed."""
    posts = []
    for uri in feeds.values():
        cursor = None
        for _ in range(5):
            url = f"{base}/xrpc/{FEED_METHOD}?limit=100&feed={urllib.parse.quote(uri)}"
            if cursor:
                url += "&cursor=" + urllib.parse.quote(cursor)
            status, page = request(url)
            if status != 200:
                break
            posts += [item["post"] for item in page["feed"]]
            cursor = page.get("cursor")
            if not cursor:
                break
    return list(dict.fromkeys(posts))


# --- wrk -------------------------------------------------------------------

def wrk(base, params_file, connections, duration):
    cmd = ["wrk", f"-t{connections}", f"-c{connections}", f"-d{duration}s", "--latency",
           "--timeout", "5s", "-s", LUA, base, "--", params_file]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("SOAK_RESULT "))
    result = json.loads(line[len("SOAK_RESULT "):])
    counts = result.pop("counts")
    classes = {k.split()[1]: v for k, v in counts.items() if k.startswith("class ")}
    kinds = {}
    for key, n in counts.items():
        kind, _, status = key.partition(" ")
        if kind in MIX:
            kinds.setdefault(kind, {})[status] = n
    lat = result["latency_us"]
    seconds = result["duration_us"] / 1e6
    return {
        "requests": result["requests"],
        "requests_per_sec": round(result["requests"] / seconds, 1),
        "latency_ms": {k: round(v / 1000, 2) for k, v in lat.items()},
        "status_by_class": dict(sorted(classes.items())),
        "status_by_kind": {k: dict(sorted(v.items())) for k, v in sorted(kinds.items())},
        "5xx": classes.get("5xx", 0),
        "4xx": classes.get("4xx", 0),
        "viewer_token_status": {k.split()[1]: v for k, v in sorted(counts.items())
                                if k.startswith("token ")},
        "socket_errors": {k: v for k, v in result["errors"].items() if k != "status"},
        "paging": {"depth": {k.split()[1]: v for k, v in sorted(counts.items())
                             if k.startswith("depth ")},
                   "ended_without_cursor": counts.get("paging ended", 0)},
        "empty_answers": {k.split()[1]: v for k, v in counts.items() if k.startswith("empty ")},
    }


def write_params(path, tokens_file, rate, connections, feeds):
    lines = [f"rate {rate}", f"threads {connections}", f"admin_token {TOKEN}",
             f"tokens {tokens_file}", f"max_pages {MAX_PAGES}",
             f"verified_feed {feeds[VERIFIED_FEED]}"]
    lines += [f"anon_feed {feeds[f]}" for f in ANON_FEEDS]
    lines += [f"pool_feed {f}" for f in POOL_FEEDS]
    lines += [f"mix_{k} {v}" for k, v in MIX.items()]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


# --- the run ---------------------------------------------------------------

def check_viewers(base, feeds, viewer, feed_token, interact_token):
    """A token verifies (not anonymous) and sendInteractions takes one."""
    before = by_label(parse_metrics(get(base + "/metrics")), "feedmixer_viewer_auth_total", "outcome")
    url = f"{base}/xrpc/{FEED_METHOD}?limit=30&feed={urllib.parse.quote(feeds[VERIFIED_FEED])}"
    status, page = request(url, feed_token)
    after = by_label(parse_metrics(get(base + "/metrics")), "feedmixer_viewer_auth_total", "outcome")
    if status != 200 or after["verified"] != before["verified"] + 1 or not page["feed"]:
        raise SystemExit(f"viewer {viewer.did} did not verify: {status} {page}, "
                         f"auth {dict(before)} -> {dict(after)}")
    body = {"feed": feeds[VERIFIED_FEED], "interactions": [
        {"item": page["feed"][0]["post"], "event": "app.bsky.feed.defs#interactionSeen"}]}
    status, answer = request(f"{base}/xrpc/{INTERACT_METHOD}", interact_token, body)
    if status != 200:
        raise SystemExit(f"sendInteractions answered {status} {answer}")
    return len(page["feed"])


def wait_ingest(base, at_least, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        snap = ingest_snapshot(base)
        if (snap["events_applied"] or 0) >= at_least:
            return snap
        time.sleep(1)
    raise SystemExit(f"ingest applied {snap['events_applied']} of {at_least} events in {timeout} s")


def sample_rss(pid, base, data_dir, start, stop, series):
    """Every SAMPLE_EVERY s from `start`, and once more when `stop` is set."""
    last = False
    while True:
        t = time.monotonic() - start
        stats = ingest_snapshot(base)
        store = sum(os.path.getsize(os.path.join(data_dir, f)) for f in os.listdir(data_dir))
        series.append({"t": round(t), "rss_mib": round(rss_kib(pid) / 1024, 1),
                       "graph_mib": stats["graph_memory_mib"],
                       "sessions_mib": stats["sessions_mib"],
                       "store_file_mib": round(store / 2**20, 1), "likes": stats["likes"]})
        if last:
            return
        last = stop.wait(SAMPLE_EVERY - (time.monotonic() - start) % SAMPLE_EVERY)


def memory_report(series, warmup):
    after = next((s for s in series if s["t"] >= warmup), series[-1])
    end = series[-1]
    growth = round(end["rss_mib"] - after["rss_mib"], 1)
    # Still growing at the end, or levelling off: the slope of the second
    # half after warm-up.
    mid = next(s for s in series if s["t"] >= (after["t"] + end["t"]) / 2)
    minutes = (end["t"] - mid["t"]) / 60
    return {
        "series_t_rss_graph_sessions_store_mib": [
            [s["t"], s["rss_mib"], s["graph_mib"], s["sessions_mib"], s["store_file_mib"]]
            for s in series],
        "after_warmup": after, "end": end,
        "growth_mib": growth,
        "growth_pct": round(100 * growth / after["rss_mib"], 2),
        "second_half_mib_per_min": round((end["rss_mib"] - mid["rss_mib"]) / minutes, 1)
        if minutes else None,
        "graph_growth_mib": round(end["graph_mib"] - after["graph_mib"], 1),
        "sessions_growth_mib": round(end["sessions_mib"] - after["sessions_mib"], 1),
        # What grew besides the graph (more data) and the paging caches
        # (bounded by [sessions]).
        "other_growth_mib": round(growth - (end["graph_mib"] - after["graph_mib"])
                                  - (end["sessions_mib"] - after["sessions_mib"]), 1),
        "store_file_growth_mib": round(end["store_file_mib"] - after["store_file_mib"], 1),
        "peak_mib": max(s["rss_mib"] for s in series),
    }


def log_problems(path, limit=40):
    with open(path, errors="replace") as f:
        lines = [l.rstrip() for l in f if re.search(r"\b(WARN|ERROR)\b|panick", l)]
    return {"count": len(lines), "last": lines[-limit:]}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "feedmixer"))
    p.add_argument("--duration", type=int, default=600, help="soak seconds")
    p.add_argument("--warmup", type=int, default=60, help="soak seconds before the RSS baseline")
    p.add_argument("--saturation", type=int, default=20, help="seconds of the unpaced run")
    p.add_argument("--rate-fraction", type=float, default=0.7)
    p.add_argument("--ingest-rate", type=int, default=200, help="Jetstream events/s")
    p.add_argument("--post-share", type=float, default=0.1, help="of ingest events, posts")
    p.add_argument("--viewers", type=int, default=200)
    p.add_argument("--seed-likes", type=int, default=10, help="first likes per viewer")
    p.add_argument("--connections", type=int, default=32, help="of the saturation run")
    p.add_argument("--soak-connections", type=int, default=32,
                   help="of the paced run: more than --connections, so that a slow answer "
                        "does not hold a connection past its next start")
    p.add_argument("--demo-size", choices=["full", "small"], default="full")
    p.add_argument("--data-dir",
                   help="serve this store (e.g. one `bench/bench.py` replayed at 10M) instead "
                        "of the demo on a fresh one; the soak's ingest writes into it")
    p.add_argument("--config", default=os.path.join(ROOT, "config", "feedmixer.toml"),
                   help="service config (e.g. a copy with smaller [sessions] caps)")
    args = p.parse_args()
    if not os.access(args.bin, os.X_OK):
        raise SystemExit(f"{args.bin} is not an executable: build it first")
    # Clean up on Ctrl-C and on SIGTERM, also when started with SIGINT
    # ignored (a background job of a script).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    work = tempfile.mkdtemp(prefix="fm-soak-")
    log_path = os.path.join(work, "server.log")
    viewers = [Viewer(plc_did(f"soak-viewer-{i}")) for i in range(args.viewers)]
    plc, plc_fetches = start_plc(viewers)
    jet = Jetstream(viewers, args.ingest_rate, args.seed_likes, args.post_share)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FEEDMIXER_") and k not in ("REDIS_URL", "REDIS_CLUSTER_NODES")}
    env.update(FEEDMIXER_ADMIN_TOKEN=TOKEN, RUST_LOG=os.environ.get("RUST_LOG", "warn"))
    data_dir = args.data_dir or os.path.join(work, "data")
    store_args = [] if args.data_dir else ["--demo", "--demo-size", args.demo_size]
    server = None
    try:
        with open(log_path, "w") as log:
            server = subprocess.Popen(
                [args.bin, "serve", *store_args,
                 "--config", args.config,
                 "--data-dir", data_dir, "--listen", f"127.0.0.1:{port}",
                 "--plc-url", f"http://127.0.0.1:{plc.server_address[1]}",
                 "--jetstream-url", f"ws://127.0.0.1:{jet.port}"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_ready(base)
        _, describe = request(base + "/xrpc/app.bsky.feed.describeFeedGenerator")
        feeds = {uri.rsplit("/", 1)[1]: uri for uri in (f["uri"] for f in describe["feeds"])}
        service_did = describe["did"]

        posts = demo_posts(base, {f: feeds[f] for f in ANON_FEEDS})
        before_seed = ingest_snapshot(base)
        jet.start_streaming(posts)
        seeded = wait_ingest(base, args.viewers * args.seed_likes)

        lifetime = args.duration + args.saturation + 3600
        tokens = [(v, v.token(service_did, FEED_METHOD, lifetime),
                   v.token(service_did, INTERACT_METHOD, lifetime)) for v in viewers]
        first_page_items = check_viewers(base, feeds, *tokens[0])
        tokens_file = os.path.join(work, "tokens.txt")
        with open(tokens_file, "w") as f:
            f.writelines(f"{v.did} {ft} {it}\n" for v, ft, it in tokens)
        params = os.path.join(work, "params.txt")

        write_params(params, tokens_file, 0, args.connections, feeds)
        wrk(base, params, args.connections, 5)
        saturation = wrk(base, params, args.connections, args.saturation)
        target = round(args.rate_fraction * saturation["requests_per_sec"], 1)

        write_params(params, tokens_file, target, args.soak_connections, feeds)
        metrics_before = parse_metrics(get(base + "/metrics"))
        ingest_before = ingest_snapshot(base)
        series, stop = [], threading.Event()
        sampler = threading.Thread(target=sample_rss,
                                   args=(server.pid, base, data_dir,
                                         time.monotonic(), stop, series))
        sampler.start()
        try:
            soak = wrk(base, params, args.soak_connections, args.duration)
        finally:
            stop.set()
            sampler.join()
        metrics_after = parse_metrics(get(base + "/metrics"))
        ingest_after = ingest_snapshot(base)

        deltas = metric_deltas(metrics_before, metrics_after)
        auth = deltas["viewer_auth_total_by_outcome"]
        token_requests = sum(soak["viewer_token_status"].values())
        # The server also answers the requests in flight when wrk stops,
        # which wrk does not count: at most one per connection.
        verified_check = {"answers_with_token": token_requests,
                          "server_verified": auth.get("verified", 0),
                          "server_unavailable": auth.get("unavailable", 0),
                          "server_invalid": auth.get("invalid", 0),
                          "all_verified": 0 <= auth.get("verified", 0) - token_requests
                          <= args.soak_connections and not auth.get("unavailable")
                          and not auth.get("invalid")}
        server_5xx = sum(v for k, v in deltas["http_requests_total_by_status"].items()
                         if k.startswith("5"))
        failed = saturation["5xx"] + soak["5xx"] + server_5xx
        summary = {
            "bench": "soak",
            "binary": args.bin,
            "demo_size": args.demo_size,
            "config": args.config,
            "mix_percent": MIX,
            "viewers": args.viewers,
            "verified_check_items": first_page_items,
            "saturation": {"seconds": args.saturation, "connections": args.connections,
                           **saturation},
            "rate_fraction": args.rate_fraction,
            "target_rps": target,
            "soak": {"seconds": args.duration, "connections": args.soak_connections, **soak},
            "soak_verified": verified_check,
            "achieved_fraction": round(soak["requests_per_sec"] / saturation["requests_per_sec"], 3),
            "memory": {"warmup_s": args.warmup, **memory_report(series, args.warmup)},
            "ingest": {"rate_per_sec": args.ingest_rate, "sent": dict(jet.sent),
                       "before_seed": before_seed, "after_seed": seeded,
                       "soak_start": ingest_before, "soak_end": ingest_after},
            "plc_fetches": {"known": plc_fetches[True], "unknown": plc_fetches[False]},
            "metrics_soak_delta": deltas,
            "server_5xx_in_soak": server_5xx,
            "server_log_problems": log_problems(log_path),
            "ok": failed == 0,
        }
        print(json.dumps(summary, indent=1), flush=True)
        if failed:
            sys.exit(1)
    except BaseException:
        if os.path.exists(log_path):
            with open(log_path, errors="replace") as f:
                sys.stderr.write("server log (tail):\n" + "".join(f.readlines()[-30:]))
        raise
    finally:
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        jet.stop()
        plc.shutdown()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
