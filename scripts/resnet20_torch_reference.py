#!/usr/bin/env python3
"""The ResNet-20 one-cycle recipe of `configs/cifar10_resnet20_one_cycle_wd1e4.toml`, trained
by PyTorch on the same CIFAR-10 images, as a reference for the accuracy `clr` reaches.

Same data (the decoded `data/cifar10/images.cache` that `clr` reads), same preprocessing
(per-channel standardization fitted on the training set), same augmentation (4-pixel zero
padding of the standardized image, a random 32x32 crop, a horizontal flip with probability
1/2), same net (`benches/resnet20_side_by_side.py`: He init, batch-norm, option-A
shortcuts), same optimizer (SGD, Nesterov momentum, weight decay on every parameter) and
schedule (`torch.optim.lr_scheduler.OneCycleLR`, which `policy = "one_cycle"` follows),
batch 128 drawn from a fresh permutation each epoch, test accuracy every `--eval-every`
iterations. Only the random streams differ from `clr`'s.

It checkpoints every `--checkpoint-every` iterations (written to a temporary and renamed)
and resumes from `OUT/checkpoint.pt` when run again with the same arguments.

Usage (from the project root, after `clr data fetch cifar10`):
  /path/to/venv/bin/python scripts/resnet20_torch_reference.py --out runs/torch_resnet20_30ep \
      [--epochs 30] [--max-lr 0.4] [--weight-decay 1e-4] [--threads 2] [--seed 1]
"""
import argparse
import csv
import functools
import json
import os
import struct
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benches"))
from resnet20_side_by_side import resnet20  # noqa: E402


def read_cache(path):
    """Train and test pixels (uint8, NCHW) and labels from clr's `images.cache`."""
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError as e:
        sys.exit(f"{path}: {e.strerror} (run `clr data fetch cifar10` first, or give --data)")
    if blob[:8] != b"CLRIMGC1":
        sys.exit(f"{path}: not a clr image cache (run `clr data fetch cifar10`)")
    c, h, w = struct.unpack_from("<3I", blob, 8)
    n_train, n_test = struct.unpack_from("<2Q", blob, 20)
    (n_classes,) = struct.unpack_from("<I", blob, 36)
    at = 40
    for _ in range(n_classes):
        (n,) = struct.unpack_from("<I", blob, at)
        at += 4 + n
    at += 32 + 4  # listing fingerprint, CRC-32
    size = c * h * w

    def take(count, per):
        nonlocal at
        a = np.frombuffer(blob, np.uint8, count * per, at)
        at += count * per
        return a

    train_x = take(n_train, size).reshape(n_train, c, h, w)
    train_y = take(n_train, 1)
    test_x = take(n_test, size).reshape(n_test, c, h, w)
    test_y = take(n_test, 1)
    return train_x, train_y, test_x, test_y


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="data/cifar10/images.cache")
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=float, default=30)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--max-lr", type=float, default=0.4)
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--label-smoothing", type=float, default=0.0)
    ap.add_argument("--eval-every", type=int, default=1172)
    ap.add_argument("--checkpoint-every", type=int, default=586)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)

    train_x, train_y, test_x, test_y = read_cache(a.data)
    n = len(train_y)
    mean = train_x.mean(axis=(0, 2, 3), dtype=np.float64)
    std = np.sqrt((train_x.astype(np.float64) ** 2).mean(axis=(0, 2, 3)) - mean**2)

    def standardize(x):
        return torch.from_numpy(((x - mean[:, None, None]) / std[:, None, None]).astype(np.float32))

    xs = F.pad(standardize(train_x), (4, 4, 4, 4))  # zero = the mean pixel
    ys = torch.from_numpy(train_y.astype(np.int64))
    test_xs = standardize(test_x)
    test_ys = torch.from_numpy(test_y.astype(np.int64))

    total = int(round(a.epochs * n / a.batch))
    cl = torch.channels_last  # the faster layout for this net on CPU; the result is the same
    model = resnet20()
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    model = model.to(memory_format=cl)
    opt = torch.optim.SGD(model.parameters(), lr=a.max_lr / 25, momentum=0.9, nesterov=True,
                          weight_decay=a.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.max_lr, total_steps=total)

    ckpt = os.path.join(a.out, "checkpoint.pt")
    metrics = os.path.join(a.out, "metrics.csv")
    it, elapsed = 0, 0.0
    if os.path.exists(ckpt):
        s = torch.load(ckpt, weights_only=False)
        if s.get("total") != total:
            sys.exit(f"{ckpt}: a run of {s.get('total')} iterations, not {total}; resume it with its "
                     "own arguments or give another --out")
        model.load_state_dict(s["model"])
        opt.load_state_dict(s["opt"])
        sched.load_state_dict(s["sched"])
        it, elapsed = s["iteration"], s["elapsed"]
        print(f"resumed at iteration {it} of {total}", flush=True)
    else:
        with open(metrics, "w", newline="") as f:
            csv.writer(f).writerow(["iteration", "epoch", "lr", "train_loss", "test_loss", "test_accuracy"])

    @functools.lru_cache(maxsize=2)
    def permutation(epoch):
        return np.random.default_rng([a.seed, epoch]).permutation(n)

    def batch_indices(i):
        # Iteration i takes positions [i*B, (i+1)*B) of the concatenated per-epoch permutations.
        pos = np.arange(i * a.batch, (i + 1) * a.batch)
        out = np.empty(a.batch, np.int64)
        for e in np.unique(pos // n):
            perm = permutation(int(e))
            sel = pos // n == e
            out[sel] = perm[pos[sel] % n]
        return out

    rows, cols = torch.arange(32), torch.arange(32)

    def augmented(i, idx):
        rng = np.random.default_rng([a.seed, 1 << 20, i])
        oy = torch.from_numpy(rng.integers(0, 9, len(idx)))
        ox = torch.from_numpy(rng.integers(0, 9, len(idx)))
        flip = torch.from_numpy(rng.random(len(idx)) < 0.5)
        ry = (oy[:, None] + rows)[:, None, :, None]
        rx = (ox[:, None] + torch.where(flip[:, None], 31 - cols, cols))[:, None, None, :]
        b = torch.from_numpy(idx)[:, None, None, None]
        return xs[b, torch.arange(3)[None, :, None, None], ry, rx].contiguous(memory_format=cl)

    def evaluate():
        model.eval()
        loss, correct = 0.0, 0
        with torch.inference_mode():
            for s in range(0, len(test_ys), 500):
                out = model(test_xs[s:s + 500].contiguous(memory_format=cl))
                loss += F.cross_entropy(out, test_ys[s:s + 500], reduction="sum").item()
                correct += (out.argmax(1) == test_ys[s:s + 500]).sum().item()
        model.train()
        return loss / len(test_ys), correct / len(test_ys)

    def save():
        tmp = ckpt + ".tmp"
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                    "iteration": it, "total": total, "elapsed": elapsed}, tmp)
        os.replace(tmp, ckpt)

    model.train()
    last = None  # (test loss, accuracy) of the latest evaluation; the loop ends with one
    run_loss, run_n, t0 = 0.0, 0, time.perf_counter()
    while it < total:
        idx = batch_indices(it)
        lr = opt.param_groups[0]["lr"]
        loss = F.cross_entropy(model(augmented(it, idx)), ys[idx], label_smoothing=a.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        it += 1
        run_loss, run_n = run_loss + loss.item(), run_n + 1
        if it % a.eval_every == 0 or it == total:
            test_loss, acc = last = evaluate()
            with open(metrics, "a", newline="") as f:
                csv.writer(f).writerow([it, f"{it * a.batch / n:.3f}", f"{lr:.6g}", f"{run_loss / run_n:.5f}",
                                        f"{test_loss:.5f}", f"{acc:.4f}"])
            print(f"iteration {it}/{total}: train loss {run_loss / run_n:.4f}, test loss {test_loss:.4f}, "
                  f"test accuracy {100 * acc:.2f}%", flush=True)
            run_loss, run_n = 0.0, 0
        if it % a.checkpoint_every == 0 or it == total:
            now = time.perf_counter()
            elapsed, t0 = elapsed + now - t0, now
            save()
    test_loss, acc = last if last and it == total else evaluate()
    summary = {"recipe": vars(a), "torch": torch.__version__, "iterations": total,
               "final_test_accuracy": acc, "final_test_loss": test_loss, "wall_seconds": elapsed}
    tmp = os.path.join(a.out, "summary.json.tmp")
    with open(tmp, "w") as f:
        json.dump(summary, f, indent=2)
    os.replace(tmp, os.path.join(a.out, "summary.json"))
    print(f"final test accuracy {100 * acc:.2f}% after {total} iterations", flush=True)


if __name__ == "__main__":
    main()
