#!/usr/bin/env python3
"""ResNet-20 (CIFAR, He et al. 2016) training and inference throughput: `clr bench` and
PyTorch's same network, interleaved on one machine, best of passes.

The PyTorch net matches `preset = "resnet20"`: 3x3 convs without bias, batch-norm, ReLU,
three stages of three basic blocks (16, 32, 64 channels), option-A shortcuts (stride-2
subsampling, zero channels), global average pooling, one dense layer; 270,410 parameters.
Training step: forward, softmax cross-entropy, backward, SGD (Nesterov momentum 0.9,
weight decay 5e-4); batch 100, float32, synthetic data. Inference: 10,000 images in
batches of 100 in eval mode. PyTorch runs NCHW and channels-last; the better one counts.

Usage (from the project root, after `cargo build --release`):
  python3 benches/resnet20_side_by_side.py --py /path/to/venv/bin/python [--passes 2]
"""
import argparse
import json
import os
import subprocess
import sys
import time


def resnet20():
    """PyTorch's ResNet-20 as `preset = "resnet20"` builds it (see the module's doc)."""
    import torch.nn as nn
    import torch.nn.functional as F

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.b1 = nn.BatchNorm2d(cout)
            self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.b2 = nn.BatchNorm2d(cout)
            self.stride, self.extra = stride, cout - cin

        def forward(self, x):
            y = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
            s = x
            if self.stride != 1 or self.extra:
                s = F.pad(x[:, :, :: self.stride, :: self.stride], (0, 0, 0, 0, 0, self.extra))
            return F.relu(y + s)

    class ResNet20(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
            self.bn = nn.BatchNorm2d(16)
            layers, cin = [], 16
            for cout, stride in ((16, 1), (32, 2), (64, 2)):
                for i in range(3):
                    layers.append(Block(cin, cout, stride if i == 0 else 1))
                    cin = cout
            self.blocks = nn.Sequential(*layers)
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            x = self.blocks(F.relu(self.bn(self.conv(x))))
            return self.fc(x.mean((2, 3)))

    return ResNet20()


def torch_child(threads, channels_last, iters_min, min_time, repeats):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(0)

    model = resnet20()
    params = sum(p.numel() for p in model.parameters())
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    bs = 100
    xs = [torch.randn(bs, 3, 32, 32).contiguous(memory_format=fmt) for _ in range(8)]
    ys = [torch.randint(0, 10, (bs,)) for _ in range(8)]
    state = {"i": 0}

    def step():
        i = state["i"] % 8
        state["i"] += 1
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(xs[i]), ys[i]).backward()
        opt.step()

    def best_rate(fn, images):
        rates = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            rates.append(images / (time.perf_counter() - t0))
        return max(rates)

    model.train()
    for _ in range(5):
        step()
    t0 = time.perf_counter()
    step()
    iters = max(iters_min, int(min_time / max(time.perf_counter() - t0, 1e-6)))
    train = best_rate(lambda: [step() for _ in range(iters)], bs * iters)
    model.eval()
    with torch.inference_mode():
        for _ in range(3):
            model(xs[0])
        evaluate = best_rate(lambda: [model(xs[i % 8]) for i in range(100)], 10_000)
    print(json.dumps({"torch": torch.__version__, "params": params, "train": train, "eval": evaluate}))


def run_torch(py, threads, channels_last, a):
    env = dict(os.environ)
    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[v] = str(threads)
    cmd = [py, os.path.abspath(__file__), "--_child", str(threads), "--repeats", str(a.repeats)]
    if channels_last:
        cmd.append("--_channels-last")
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    if p.returncode != 0:
        sys.exit(f"PyTorch (threads {threads}): exit {p.returncode}: {p.stderr.strip()[-600:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def run_clr(clr, threads, a):
    p = subprocess.run([clr, "bench", "--workload", "resnet20", "--threads", str(threads),
                        "--batch", "100", "--repeats", str(a.repeats)],
                       capture_output=True, text=True, timeout=1800)
    lines = [l for l in p.stdout.splitlines() if l.strip().startswith("{")]
    if p.returncode != 0 or not lines:
        sys.exit(f"clr bench resnet20 (threads {threads}): exit {p.returncode}: {p.stderr.strip()[:400]}")
    j = json.loads(lines[-1])
    return j["train_images_per_sec"], j["eval_images_per_sec"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clr", default="target/release/clr")
    ap.add_argument("--py", default=sys.executable, help="a Python with torch installed")
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", help="also write the table to this file")
    ap.add_argument("--_child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--_channels-last", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a._child is not None:
        torch_child(a._child, a._channels_last, 10, 3.0, a.repeats)
        return
    threads = [int(t) for t in a.threads.split(",")]
    best = {}
    version = None
    for _ in range(a.passes):
        for t in threads:
            tr, ev = run_clr(a.clr, t, a)
            for m, v in (("train", tr), ("eval", ev)):
                best[("clr", t, m)] = max(best.get(("clr", t, m), 0), v)
            for cl in (False, True):
                j = run_torch(a.py, t, cl, a)
                version = j["torch"]
                for m in ("train", "eval"):
                    best[("torch", t, m)] = max(best.get(("torch", t, m), 0), j[m])
    rows = []
    print(f"resnet20, batch 100, best of {a.passes} passes; PyTorch {version}, best of NCHW and channels-last")
    print("| threads | mode | clr img/s | PyTorch img/s | clr/PyTorch |")
    print("|---|---|---|---|---|")
    for t in threads:
        for m in ("train", "eval"):
            c, p = best[("clr", t, m)], best[("torch", t, m)]
            rows.append({"threads": t, "mode": m, "clr": c, "torch": p, "ratio": c / p})
            print(f"| {t} | {m} | {c:,.0f} | {p:,.0f} | {c / p:.2f} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"torch": version, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
