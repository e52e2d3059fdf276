#!/usr/bin/env python3
"""How far each side-by-side cell is from this machine's arithmetic ceiling.

Reads the JSON tables of `side_by_side.py --json` and `benches/resnet20_side_by_side.py
--json` (measured just before, on the same machine), asks `clr bench --peak` for the FLOPs
each workload computes per image and for the FMA peak of 1 and 2 threads, and prints per cell
the GFLOP/s of clr and of PyTorch, the GFLOP/s that 1.25x PyTorch's images/s would take, and
that as a share of the peak. A share near or above 100% cannot be reached by computing the
same FLOPs faster, only by computing fewer (e.g. Winograd convolutions).

FLOPs are 2 x multiply-accumulates of the conv and dense layers as computed, padding taps
included: forward for inference; forward, weight gradient and input gradient for training,
without the first layer's input gradient (PyTorch does not compute it either).

Usage (from the project root, after `cargo build --release`, on an otherwise idle machine):
  python3 ../shared/bench/side_by_side.py --clr target/release/clr --py VENV/bin/python --json /tmp/sbs.json
  python3 benches/resnet20_side_by_side.py --py VENV/bin/python --json /tmp/resnet20.json
  python3 benches/roofline.py /tmp/sbs.json /tmp/resnet20.json
"""
import argparse
import json
import subprocess


def clr_bench(clr, workload, threads):
    cmd = [clr, "bench", "--workload", workload, "--threads", str(threads), "--iterations", "1",
           "--repeats", "1", "--peak"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)}: exit {p.returncode}: {p.stderr.strip()[:300]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("tables", nargs="+", help="JSON files written by the side-by-side scripts")
    ap.add_argument("--clr", default="target/release/clr")
    ap.add_argument("--target", type=float, default=1.25, help="clr/PyTorch ratio to reach")
    a = ap.parse_args()
    rows = []
    for path in a.tables:
        with open(path) as f:
            for r in json.load(f)["rows"]:
                rows.append({"workload": r.get("workload", "resnet20"), **r})
    info, peak = {}, {}
    for r in rows:
        key = (r["workload"], r["threads"])
        if key not in info:
            info[key] = clr_bench(a.clr, *key)
            # The best peak seen for a thread count counts (it drifts like everything else).
            t = r["threads"]
            peak[t] = max(peak.get(t, 0.0), info[key]["peak_gflops"])
    print("| workload | threads | mode | MFLOP/image | clr GFLOP/s | PyTorch GFLOP/s "
          f"| {a.target}x PyTorch GFLOP/s | share of the FMA peak |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        j = info[(r["workload"], r["threads"])]
        flops = j["train_flops_per_image" if r["mode"] == "train" else "eval_flops_per_image"]
        c, p = r["clr"] * flops / 1e9, r["torch"] * flops / 1e9
        need = a.target * p
        print(f"| {r['workload']} | {r['threads']} | {r['mode']} | {flops / 1e6:.2f} | {c:.0f} "
              f"| {p:.0f} | {need:.0f} | {100 * need / peak[r['threads']]:.0f}% |")
    print("FMA peak: " + ", ".join(f"{t} thread{'s' if t > 1 else ''} {g:.0f} GFLOP/s"
                                   for t, g in sorted(peak.items())))


if __name__ == "__main__":
    main()
