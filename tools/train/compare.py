"""Compares training runs of train.py: held-out bits per byte, the cache one request of 4,096
tokens holds in rattn's engine, and a plot of the held-out loss curves.

The cache bytes come from the engine itself: rattn-server is started on each checkpoint and its
cache manager's start-up line ("... requests of the full 4096-token context fit (X MiB each)")
is read, so the figure is the engine's accounting (blocks of 16 positions, fp32 cache elements
on the CPU backend), not a formula of this script's.

Usage: /usr/bin/python3 tools/train/compare.py --server=build/release/server/rattn-server
  --plot=docs/training-loss.png NAME=RUN_DIR [NAME=RUN_DIR ...]
Prints a Markdown table; each RUN_DIR holds train.py's report.json, curve.csv and checkpoint.
"""

import argparse
import csv
import json
import math
import os
import re
import socket
import subprocess
import sys

os.environ.setdefault("MPLBACKEND", "Agg")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cache_mib_at_full_context(server, model_dir):
    """Starts rattn-server on `model_dir` until its cache manager reports, then stops it."""
    process = subprocess.Popen(
        [server, f"--model_dir={model_dir}", f"--listen=127.0.0.1:{free_port()}",
         "--metrics_listen=", "--memory_budget=64MiB", "--backend=cpu", "--threads=1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    found = None
    try:
        for line in process.stdout:
            match = re.search(r"requests of the full (\d+)-token context fit \(([0-9.e+]+) MiB each\)",
                              line)
            if match:
                found = (int(match.group(1)), float(match.group(2)))
                break
    finally:
        process.terminate()
        process.wait(timeout=30)
    if found is None:
        sys.exit(f"compare.py: rattn-server on {model_dir} did not report its cache pools")
    return found


def bits_by_position(directory, seed, context, edges):
    """Held-out bits per byte of the checkpoint (float32 arithmetic on its weights) over
    non-overlapping windows of `context` bytes, split by the position of the predicted byte in
    its window: [0, edges[0]), [edges[0], edges[1]), ... up to `context`."""
    import torch
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import reference
    import train
    model = reference.load_model(directory).float()
    _, held_out = train.split(train.load_entries(train.DEFAULT_DATA), seed)
    data = train.stream(held_out)
    bounds = [0] + list(edges) + [context]
    totals = [0.0] * (len(bounds) - 1)
    counts = [0] * (len(bounds) - 1)
    starts = torch.arange(0, len(data) - context - 1, context)
    with torch.no_grad():
        for batch in starts.split(4):
            x = torch.stack([data[s:s + context] for s in batch])
            y = torch.stack([data[s + 1:s + context + 1] for s in batch])
            nll = torch.nn.functional.cross_entropy(model(x).transpose(1, 2), y,
                                                    reduction="none")
            for i in range(len(totals)):
                totals[i] += nll[:, bounds[i]:bounds[i + 1]].sum().item()
                counts[i] += nll[:, bounds[i]:bounds[i + 1]].numel()
    return [t / c / math.log(2) for t, c in zip(totals, counts)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", required=True, help="the rattn-server binary")
    parser.add_argument("--plot", required=True, help="the PNG to write")
    parser.add_argument("--long_context", type=int, default=1024,
                        help="the window of the by-position evaluation (0: none)")
    parser.add_argument("runs", nargs="+", help="NAME=RUN_DIR")
    args = parser.parse_args()
    runs = []
    for spec in args.runs:
        name, _, directory = spec.partition("=")
        if not directory:
            parser.error(f"{spec!r}: runs are NAME=RUN_DIR")
        with open(os.path.join(directory, "report.json")) as f:
            report = json.load(f)
        with open(os.path.join(directory, "curve.csv")) as f:
            curve = [(int(r["step"]), float(r["held_out_bits_per_byte"])) for r in csv.DictReader(f)]
        context, mib = cache_mib_at_full_context(args.server, directory)
        runs.append((name, report, curve, context, mib))
    edges = []
    if args.long_context:
        # Inside every local layer's window; beyond it but within the training context; beyond
        # the training context.
        edges = [runs[0][1]["window"] + 1, runs[0][1]["context"]]
        by_position = {name: bits_by_position(directory, report["seed"], args.long_context, edges)
                       for (name, report, _, _, _), directory in
                       zip(runs, [spec.partition("=")[2] for spec in args.runs])}

    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=110)
    for name, report, curve, _, _ in runs:
        steps = [s for s, _ in curve if s > 0]
        bits = [b for s, b in curve if s > 0]
        axes.plot(steps, bits, marker="o", markersize=3,
                  label=f"{name} ({report['layers']}): {report['held_out_bits_per_byte']:.3f}")
    axes.set_xlabel("training step (16 x 256 bytes each)")
    axes.set_ylabel("held-out bits per byte")
    axes.set_ylim(top=min(4.0, axes.get_ylim()[1]))
    axes.grid(alpha=0.3)
    axes.legend(title=f"w = {runs[0][1]['window']}; final, whole held-out split")
    axes.set_title("Byte-level models of Debian's fortunes, same steps and seed")
    figure.tight_layout()
    figure.savefig(args.plot)

    base = next((r for r in runs if r[1]["layers"].replace(",", "").strip("f") == ""), runs[0])
    print(f"| model | layers | parameters | held-out bits/byte | vs {base[0]} | "
          f"cache per request at {runs[0][3]:,} tokens | training time |")
    print("|---|---|---|---|---|---|---|")
    for name, report, _, context, mib in runs:
        bpb = report["held_out_bits_per_byte"]
        relative = 100.0 * (bpb / base[1]["held_out_bits_per_byte"] - 1)
        print(f"| {name} | {report['layers']} | {report['parameters'] / 1e6:.2f}M | {bpb:.4f} | "
              f"{relative:+.1f}% | {mib:.2f} MiB ({100.0 * mib / base[4]:.0f}%) | "
              f"{report['train_seconds'] / 60:.1f} min |")
    if edges:
        bounds = [0] + edges + [args.long_context]
        print(f"\nHeld-out bits per byte in windows of {args.long_context:,} bytes (trained on "
              f"{runs[0][1]['context']}), by the position of the predicted byte:\n")
        print("| model | " + " | ".join(f"positions {a}-{b - 1}" for a, b in
                                        zip(bounds, bounds[1:])) + " |")
        print("|---|" + "---|" * (len(bounds) - 1))
        for name, *_ in runs:
            print(f"| {name} | " + " | ".join(f"{b:.4f}" for b in by_position[name]) + " |")
    print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()
