#!/usr/bin/env python3
"""Writes the golden-logit cases: a random checkpoint per case (made by rattn-make-checkpoint)
(CASE/checkpoint) and CASE/golden.safetensors beside it with a token sequence and the reference logits of every
position. The C++ tests read `cases.txt` in the output directory.

Usage: make_golden.py --tool build/.../rattn-make-checkpoint --out DIR
"""

import argparse
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rattention_reference as ref  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tool", required=True, help="path to rattn-make-checkpoint")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--cases", default=os.path.join(os.path.dirname(__file__),
                                                        "golden_cases.json"))
    args = parser.parse_args()

    with open(args.cases) as f:
        cases = json.load(f)["cases"]
    os.makedirs(args.out, exist_ok=True)
    names = []
    for index, case in enumerate(cases):
        directory = os.path.join(args.out, case["name"], "checkpoint")
        subprocess.run([args.tool, f"--out={directory}"] + case["args"], check=True)
        config, tensors = ref.load_checkpoint(directory)
        w = case.get("window") or config["sliding_window"]
        lengths = [w, w + 1, w + 2, 3 * w + 5]
        rng = np.random.default_rng(1000 + index)
        tokens = rng.integers(0, config["vocab_size"], size=max(lengths)).astype(np.int32)
        logits = ref.forward(config, tensors, tokens)
        ref.write_safetensors(
            os.path.join(args.out, case["name"], "golden.safetensors"),
            {"tokens": tokens, "logits": logits.astype(np.float32)},
            {"lengths": ",".join(str(n) for n in lengths)})
        names.append(case["name"])
        print(f"{case['name']}: {len(tokens)} tokens, logits max |x| "
              f"{np.max(np.abs(logits)):.3f}")
    with open(os.path.join(args.out, "cases.txt"), "w") as f:
        f.write("\n".join(names) + "\n")


if __name__ == "__main__":
    main()
