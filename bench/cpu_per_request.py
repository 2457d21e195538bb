#!/usr/bin/env python3
"""Server CPU per request, personalized for-you against verified
getFeedSkeleton for the same viewer (the demo viewer, one ES256 token sent
as a static header, so wrk's per-request cost is the same in both).

    python3 bench/cpu_per_request.py --data-dir DIR [--connections 8] [--rounds 2]

DIR is a store written by `feedmixer replay` (e.g. of bench.py's cached
capture). Each case runs wrk for a 2 s warm-up, then --seconds; the
server's CPU time (utime + stime of /proc/PID/stat) over that run, divided
by the requests answered, is what the server spent per request, whatever
share of the two cores wrk took. The cases alternate for --rounds rounds,
since this VM's speed drifts within minutes. Also printed: the mean wall
time of each stage of the for-you flow (feedmixer_stage_duration_seconds)
over the run. Needs the release binary and wrk; Python stdlib only.
"""

import argparse
import os
import sys
import tempfile
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (DEMO_VIEWER, FEED_METHOD, PERSONALIZE_BODY, ROOT, Viewer, get,  # noqa: E402
                     post_lua, request, start_plc, wrk)
import bench  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--bin", default=os.path.join(ROOT, "target/release/feedmixer"))
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="fm-cpu-")
    viewer = Viewer(DEMO_VIEWER)
    plc, _ = start_plc([viewer])
    server = bench.Server(args.bin, args.data_dir, f"http://127.0.0.1:{plc.server_address[1]}",
                          os.path.join(work, "server.log"), bench.bench_config(work, 128))
    try:
        _, describe = request(server.base + "/xrpc/app.bsky.feed.describeFeedGenerator")
        feeds = {u.rsplit("/", 1)[1]: u for u in (f["uri"] for f in describe["feeds"])}
        path = f"/xrpc/{FEED_METHOD}?limit=30&feed=" + urllib.parse.quote(feeds["for-you"])
        token = viewer.token(describe["did"], FEED_METHOD, 7200)
        status, page = request(server.base + path, token)
        if status != 200 or not page["feed"]:
            raise SystemExit(f"the verified request failed: {status} {page}")
        scripts = {"personalize": post_lua(PERSONALIZE_BODY),
                   "verified": f'wrk.headers["Authorization"] = "Bearer {token}"\n'}
        for name, text in scripts.items():
            with open(os.path.join(work, name + ".lua"), "w") as f:
                f.write(text)
        cases = {"personalize": server.base + "/v1/personalize", "verified": server.base + path}
        for round_ in range(args.rounds):
            for name, url in cases.items():
                script = os.path.join(work, name + ".lua")
                wrk(url, args.connections, 2, script)
                cpu0, stages0 = cpu_seconds(server.process.pid), stage_seconds(server.base)
                r = wrk(url, args.connections, args.seconds, script)
                cpu1, stages1 = cpu_seconds(server.process.pid), stage_seconds(server.base)
                answered = r["requests_per_sec"] * args.seconds
                stages = {}
                for component, (total, count) in stages1.items():
                    t0, c0 = stages0.get(component, (0.0, 0.0))
                    if count > c0:
                        stages[component] = round(1e6 * (total - t0) / (count - c0))
                print(f"round {round_} {name}, {args.connections} connections: "
                      f"{r['requests_per_sec']:.0f} req/s, p99 {r['p99_ms']} ms, "
                      f"server CPU {1e6 * (cpu1 - cpu0) / answered:.0f} us/request, "
                      f"non-2xx {r['non_2xx']}; stage wall us {stages}", flush=True)
    finally:
        server.stop()


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stage_seconds(base):
    """{component: (seconds, count)} of the for-you flow's stages."""
    out = {}
    prefix = 'feedmixer_stage_duration_seconds_'
    for line in get(base + "/metrics").splitlines():
        if not line.startswith(prefix) or 'flow="for-you"' not in line:
            continue
        kind = line[len(prefix):].split("{", 1)[0]
        if kind not in ("sum", "count"):
            continue
        component = line.split('component="', 1)[1].split('"', 1)[0]
        total, count = out.get(component, (0.0, 0.0))
        value = float(line.rsplit(" ", 1)[1])
        out[component] = (total + value, count) if kind == "sum" else (total, count + value)
    return out


if __name__ == "__main__":
    main()
