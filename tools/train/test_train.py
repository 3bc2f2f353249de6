"""train.py end to end on a small model and a synthetic fortune file: the run trains (the
held-out figure falls), its config.json describes the model asked for, and it reproduces: the
same command and seed, run again, writes the same model.safetensors byte for byte and the same
held-out figures, while another seed writes a different one (so the comparison can fail).

Usage: /usr/bin/python3 tools/train/test_train.py
"""

import collections
import csv
import json
import os
import random
import subprocess
import sys
import tempfile

Run = collections.namedtuple("Run", "report curve weights config")
HERE = os.path.dirname(os.path.abspath(__file__))
WORDS = ("the", "a", "of", "to", "is", "in", "that", "it", "you", "and", "never", "always",
         "cat", "program", "law", "time", "man", "bar", "computer", "wise", "fool", "says")


def write_fortunes(directory, count, seed):
    """A fortune file (entries separated by '%' lines) of made-up sentences."""
    rng = random.Random(seed)
    entries = []
    for _ in range(count):
        words = [rng.choice(WORDS) for _ in range(rng.randint(4, 16))]
        entries.append(" ".join(words).capitalize() + ".\n\t\t-- " + rng.choice(WORDS).title())
    with open(os.path.join(directory, "made-up"), "w") as f:
        f.write("\n%\n".join(entries) + "\n%\n")


def train(data, out, seed):
    command = [sys.executable, os.path.join(HERE, "train.py"), f"--out={out}", f"--data={data}",
               "--layers=r,s,f", "--hidden=32", "--intermediate=64", "--heads=4",
               "--kv_heads=2", "--window=8", "--context=48", "--batch=8", "--steps=40",
               "--warmup=5", "--eval_every=20", "--eval_windows=8", f"--seed={seed}",
               "--threads=2"]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(out, "report.json")) as f:
        report = json.load(f)
    with open(os.path.join(out, "curve.csv")) as f:
        curve = [float(row["held_out_bits_per_byte"]) for row in csv.DictReader(f)]
    with open(os.path.join(out, "model.safetensors"), "rb") as f:
        weights = f.read()
    with open(os.path.join(out, "config.json")) as f:
        config = json.load(f)
    return Run(report, curve, weights, config)


def main():
    failures = []

    def check(ok, what):
        print(f"  {'ok' if ok else 'FAIL'}: {what}")
        if not ok:
            failures.append(what)

    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        os.mkdir(data)
        write_fortunes(data, 600, seed=3)
        first = train(data, os.path.join(tmp, "first"), seed=7)
        again = train(data, os.path.join(tmp, "again"), seed=7)
        other = train(data, os.path.join(tmp, "other"), seed=8)

    print("train.py on a 3-layer model, 40 steps, seeds 7, 7 and 8")
    check(first.config["layer_types"] == ["rattention", "sliding_attention", "full_attention"]
          and first.config["sliding_window"] == 8, "config.json describes the model trained")
    check(first.curve[-1] < 0.8 * first.curve[0], "held-out bits/byte fell during training "
          f"({first.curve[0]:.3f} -> {first.curve[-1]:.3f})")
    check(again.weights == first.weights,
          "the same seed writes the same model.safetensors, byte for byte")
    bits = (first.report["held_out_bits_per_byte"], again.report["held_out_bits_per_byte"])
    check(again.curve == first.curve and bits[0] == bits[1],
          f"the same seed gives the same held-out figures ({bits[0]} and {bits[1]})")
    check(other.weights != first.weights, "another seed writes another model")
    if failures:
        print("FAILED:", "; ".join(failures))
        return 1
    print("PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
