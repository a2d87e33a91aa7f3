#!/usr/bin/env python3
"""Measure Autodiff against the TorchSharp peer in one sitting, and draw the SVG plot of docs/performance.md.

  python3 scripts/plot_performance.py table  OUT.csv --peers DIR [--reps R]
      The rows of the performance table: alternately the peer (DIR/torchsharp/run.sh) and our benchmark harness
      (tests/Autodiff.Benchmarks `compare`), R times each, at 4096x1000 and 256x50000 (1 and 2 threads) and the matmul
      at 512 and 1024; then prints the ratios and the roofline (DIR/roofline/run.sh 4096 1000).
  python3 scripts/plot_performance.py sweep  OUT.csv --peers DIR [--reps R]
      Fused cross-entropy (f32 and f64, 1 thread) at a fixed budget of N*C = 4,096,000 logits for C in
      100, 300, 1000, 3000, 10000, 50000, alternating the peer and ours.
  python3 scripts/plot_performance.py plot   SWEEP.csv OUT.svg
      Time against C, ours and the peer's, log-log, as a small hand-written SVG (no matplotlib needed); each point is
      the best of the repetitions' medians.

Every CSV row is: source,workload,dtype,threads,N,C,median_ms,alloc_bytes,load1 (load1 = 1-minute load average when the
run started; alloc_bytes is empty for the peer). Build ours first: dotnet build -c Release tests/Autodiff.Benchmarks.
"""
import csv
import math
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OURS = os.path.join(ROOT, "tests", "Autodiff.Benchmarks", "bin", "Release", "net10.0", "Autodiff.Benchmarks.dll")

# Our workload name -> the peer's (tests/Autodiff.Benchmarks/Workloads.cs and the peer's Program.cs).
PEER_NAME = {
    "fused": "fused cross_entropy fwd+bwd",
    "simplified": "fused cross_entropy fwd+bwd",
    "naive": "naive exp/sum/div/log CE fwd+bwd",
    "logsumexp": "logsumexp fwd+bwd",
    "simplified_lse": "logsumexp fwd+bwd",
    "naive_lse": "naive log(sum(exp)) fwd+bwd",
    "matmul": "matmul [N,C]x[C,C] fwd+bwd",
}
PEER_LINE = re.compile(r"^(?P<name>.+?)\s+(?P<dt>Float32|Float64)\s+N=(?P<n>\d+) C=(?P<c>\d+) threads=(?P<t>\d+): median (?P<ms>[\d.]+) ms")
OUR_LINE = re.compile(r"^(?P<name>\S+)\s+(?P<dt>f32|f64)\s+N=(?P<n>\d+) C=(?P<c>\d+) threads=(?P<t>\d+): median (?P<ms>[\d.]+) ms.*alloc (?P<alloc>[\d.]+) B/pass")


def load1():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()


def peer(peers, n, c, threads, only):
    load = load1()
    rows = []
    for line in run([os.path.join(peers, "torchsharp", "run.sh"), str(n), str(c), str(threads), only]):
        m = PEER_LINE.match(line)
        if m:
            dt = "f32" if m["dt"] == "Float32" else "f64"
            rows.append(["torchsharp", m["name"].strip(), dt, m["t"], m["n"], m["c"], m["ms"], "", load])
    return rows


def ours(n, c, threads, workloads):
    load = load1()
    rows = []
    for line in run(["dotnet", OURS, "compare", str(n), str(c), str(threads), ",".join(workloads)]):
        m = OUR_LINE.match(line)
        if m:
            rows.append(["autodiff", m["name"], m["dt"], m["t"], m["n"], m["c"], m["ms"], m["alloc"], load])
    return rows


def write(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["source", "workload", "dtype", "threads", "N", "C", "median_ms", "alloc_bytes", "load1"])
        w.writerows(rows)


def table(out, peers, reps):
    rows = []
    configs = [(4096, 1000, t) for t in (1, 2)] + [(256, 50000, t) for t in (1, 2)]
    for _ in range(reps):
        for n, c, t in configs:
            rows += peer(peers, n, c, t, "e")   # every CE/logsumexp workload name has an "e"; the matmul name has none
            rows += ours(n, c, t, ["fused", "naive", "simplified", "logsumexp", "naive_lse", "simplified_lse"])
            print(f"done {n}x{c} threads={t}", file=sys.stderr)
        for s in (512, 1024):
            for t in (1, 2):
                rows += peer(peers, s, s, t, "matmul")
                rows += ours(s, s, t, ["matmul"])
    write(out, rows)
    summary(rows)
    for line in run([os.path.join(peers, "roofline", "run.sh"), "4096", "1000"]):
        print(line)


def summary(rows):
    """Prints, per configuration, our medians, the peer's and their ratios, repetition by repetition."""
    runs = {}
    for source, name, dt, t, n, c, ms, _, _ in rows:
        runs.setdefault((source, name, dt, t, n, c), []).append(float(ms))
    for (source, name, dt, t, n, c), ours_ms in sorted(runs.items()):
        if source != "autodiff":
            continue
        peer_ms = runs.get(("torchsharp", PEER_NAME[name], dt, t, n, c), [])
        ratios = ", ".join(f"{o / p:.3f}" for o, p in zip(ours_ms, peer_ms))
        print(f"{name:15} {dt} threads={t} {n}x{c}: ours {ours_ms} peer {peer_ms} ratios {ratios}")


SWEEP = [(40960, 100), (13653, 300), (4096, 1000), (1365, 3000), (410, 10000), (82, 50000)]


def sweep(out, peers, reps):
    rows = []
    for _ in range(reps):
        for n, c in SWEEP:
            rows += peer(peers, n, c, 1, "fused")
            rows += ours(n, c, 1, ["fused"])
            print(f"done {n}x{c}", file=sys.stderr)
    write(out, rows)


def plot(src, out):
    """The best (lowest) of the repetitions' medians for each (source, dtype, C), which discards a repetition that
    another process on the shared machine slowed down; one polyline per (source, dtype)."""
    series = {}
    with open(src) as f:
        for r in csv.DictReader(f):
            series.setdefault((r["source"], r["dtype"]), {}).setdefault(int(r["C"]), []).append(float(r["median_ms"]))
    lines = {k: sorted((c, min(v)) for c, v in pts.items()) for k, pts in series.items()}
    cs = [c for pts in lines.values() for c, _ in pts]
    ts = [t for pts in lines.values() for _, t in pts]
    W, H, L, R, T, B = 640, 400, 70, 170, 30, 50
    x0, x1 = math.log10(min(cs)) - 0.1, math.log10(max(cs)) + 0.1
    y0, y1 = math.floor(math.log10(min(ts))), math.ceil(math.log10(max(ts)))

    def px(c):
        return L + (math.log10(c) - x0) / (x1 - x0) * (W - L - R)

    def py(t):
        return H - B - (math.log10(t) - y0) / (y1 - y0) * (H - T - B)

    colors = {("autodiff", "f32"): "#1f77b4", ("autodiff", "f64"): "#6baed6",
              ("torchsharp", "f32"): "#d62728", ("torchsharp", "f64"): "#fc9272"}
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{L}" y="18" font-size="14">Fused softmax cross-entropy, forward+backward, N*C = 4,096,000, 1 thread</text>']
    for e in range(y0, y1 + 1):
        y = py(10 ** e)
        svg.append(f'<line x1="{L}" x2="{W - R}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        svg.append(f'<text x="{L - 8}" y="{y + 4:.1f}" text-anchor="end">{10 ** e:g} ms</text>')
    for c in sorted(set(cs)):
        x = px(c)
        svg.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{T}" y2="{H - B}" stroke="#eee"/>')
        svg.append(f'<text x="{x:.1f}" y="{H - B + 16}" text-anchor="middle">{c}</text>')
    svg.append(f'<text x="{(L + W - R) / 2:.0f}" y="{H - 12}" text-anchor="middle">classes C (N = 4,096,000 / C)</text>')
    svg.append(f'<rect x="{L}" y="{T}" width="{W - L - R}" height="{H - T - B}" fill="none" stroke="#444"/>')
    for i, (key, pts) in enumerate(sorted(lines.items())):
        color = colors.get(key, "#333")
        dash = ' stroke-dasharray="6,3"' if key[0] == "torchsharp" else ""
        path = " ".join(f"{px(c):.1f},{py(t):.1f}" for c, t in pts)
        svg.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"{dash}/>')
        for c, t in pts:
            svg.append(f'<circle cx="{px(c):.1f}" cy="{py(t):.1f}" r="3" fill="{color}"/>')
        ly = T + 20 + 22 * i
        svg.append(f'<line x1="{W - R + 12}" x2="{W - R + 40}" y1="{ly}" y2="{ly}" stroke="{color}" stroke-width="2"{dash}/>')
        svg.append(f'<text x="{W - R + 46}" y="{ly + 4}">{key[0]} {key[1]}</text>')
    svg.append("</svg>")
    with open(out, "w") as f:
        f.write("\n".join(svg) + "\n")


def main(argv):
    if len(argv) < 3 or argv[0] not in ("table", "sweep", "plot"):
        sys.exit(__doc__)
    if argv[0] == "plot":
        plot(argv[1], argv[2])
        return
    opts = dict(zip(argv[2::2], argv[3::2]))
    if "--peers" not in opts:
        sys.exit("--peers DIR (the folder holding torchsharp/run.sh and roofline/run.sh) is required")
    reps = int(opts.get("--reps", "2"))
    (table if argv[0] == "table" else sweep)(argv[1], opts["--peers"], reps)


if __name__ == "__main__":
    main(sys.argv[1:])
