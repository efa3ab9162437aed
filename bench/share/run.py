#!/usr/bin/env python3
"""Screen-sharing benchmark: one `huddle` sharer, N `huddle` viewers, on loopback.

Measures, side by side in one run (release binaries):
- a synthetic 1920x1080 @ 30 screen with 1, 3 and 6 viewers: the sharer's CPU over a
  steady window, encode ms/frame, and at the viewers glass-to-glass p50/p95 and the
  time to first frame from `sharerStarted`;
- a real Xvfb 1920x1080 screen showing the live barcode (`huddle show-barcode`),
  captured with MIT-SHM, with 1 viewer.
Prints a Markdown table. Usage: python3 bench/share/run.py [--seconds 20]
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def start_server(bin_dir):
    proc = subprocess.Popen(
        [f"{bin_dir}/huddle-server", "--listen", "127.0.0.1:0", "--db", ":memory:"],
        stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        m = re.search(r"listening on (http://\S+)", line)
        if m:
            return proc, m.group(1)
    sys.exit("the server did not start")


def start_xvfb():
    proc = subprocess.Popen(["Xvfb", "-displayfd", "1", "-nolisten", "tcp", "-screen", "0", "1920x1080x24"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    display = ":" + proc.stdout.readline().strip()
    return proc, display


def run_case(bin_dir, url, room, share, viewers, seconds, env=None):
    tmp = tempfile.mkdtemp(prefix="huddle-share-bench-")
    common = ["--camera", "none", "--mic", "none", "--speaker", "none", "--udp-addr", "127.0.0.1:0"]
    sharer_report = f"{tmp}/sharer.json"
    sharer = subprocess.Popen(
        [f"{bin_dir}/huddle", "join", "--server", url, "--email", "sharer@example.com", "--room", room,
         *common, "--share", share, "--share-at", "1", "--duration", str(seconds + 4), "--report", sharer_report],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    time.sleep(0.5)
    procs = []
    for i in range(viewers):
        procs.append(subprocess.Popen(
            [f"{bin_dir}/huddle", "join", "--server", url, "--email", f"viewer{i}@example.com", "--room", room,
             *common, "--duration", str(seconds), "--report", f"{tmp}/viewer{i}.json"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    # Steady window: after everyone is connected, before anyone leaves.
    time.sleep(seconds * 0.3)
    c0, t0 = cpu_seconds(sharer.pid), time.time()
    time.sleep(seconds * 0.5)
    c1, t1 = cpu_seconds(sharer.pid), time.time()
    for p in procs:
        p.wait()
    sharer.wait()
    lat50, lat95, ttff = [], [], []
    for i in range(viewers):
        with open(f"{tmp}/viewer{i}.json") as f:
            r = json.load(f)
        s = next((s for s in r["received"] if s["kind"] == "screen"), None)
        if s and s["latency_ms"]["p50"] is not None:
            lat50.append(s["latency_ms"]["p50"])
            lat95.append(s["latency_ms"]["p95"])
            ttff.append(s["time_to_first_frame_ms"])
    with open(sharer_report) as f:
        sent = next(s for s in json.load(f)["sent"] if s["kind"] == "screen")
    return {
        "share": share, "viewers": viewers,
        "cpu_pct": 100 * (c1 - c0) / (t1 - t0),
        "encode_ms": sent["encode_ms_per_frame"], "fps": sent["fps"], "kbps": sent["kbps"],
        "g2g_p50": max(lat50) if lat50 else None, "g2g_p95": max(lat95) if lat95 else None,
        "ttff_ms": max(ttff) if ttff else None, "viewers_measured": len(lat50),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--bin", default=os.path.join(os.environ.get(
        "CARGO_TARGET_DIR", os.path.expanduser("~/.cache/huddle-target")), "release"))
    args = ap.parse_args()
    server, url = start_server(args.bin)
    xvfb, display = start_xvfb()
    barcode = subprocess.Popen([f"{args.bin}/huddle", "show-barcode", "--display", display])
    rows = []
    try:
        for n in (1, 3, 6):
            rows.append(run_case(args.bin, url, f"synthetic{n}", "test1080", n, args.seconds))
        env = dict(os.environ, DISPLAY=display)
        rows.append(run_case(args.bin, url, "xvfb", "screen", 1, args.seconds, env))
    finally:
        for p in (barcode, xvfb, server):
            p.kill()
    print("| source | viewers | sharer CPU % | encode ms/frame | sent fps | kbps | g2g p50 / p95 ms (worst viewer) | first frame from sharerStarted ms (worst) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        src = "synthetic 1080p" if r["share"] == "test1080" else "Xvfb 1080p (MIT-SHM)"
        print(f"| {src} | {r['viewers']} | {r['cpu_pct']:.0f} | {r['encode_ms']:.1f} | {r['fps']:.1f} | {r['kbps']:.0f} "
              f"| {r['g2g_p50']} / {r['g2g_p95']} | {r['ttff_ms']:.0f} |" if r["ttff_ms"] is not None else
              f"| {src} | {r['viewers']} | {r['cpu_pct']:.0f} | {r['encode_ms']:.1f} | {r['fps']:.1f} | {r['kbps']:.0f} | - | - |")
    one = rows[0]["cpu_pct"]
    six = rows[2]["cpu_pct"]
    print(f"\nsharer CPU with 6 viewers / with 1 viewer: {six / one:.2f} (target <= 1.2)")


if __name__ == "__main__":
    main()
