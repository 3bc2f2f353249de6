"""Writes what the PyTorch model says of a checkpoint's held-out prompts, for the server to match.

For the first --prompts held-out fortunes (the split train.py made with the checkpoint's seed,
read from report.json) of at least --prompt_bytes bytes, the prompt is bos and the fortune's
first --prompt_bytes bytes. The model (rattn_model.py, float64 arithmetic on the checkpoint's
rounded weights) gives:
  greedy          --new_tokens tokens, each the most likely next token (end-of-sequence included
                  and generation carried on past it, as the server's ignore_eos does);
  prompt_logprobs the log-probability of each prompt token after the first given those before;
  margins         per greedy step, the gap between the best and the second-best logit, so that a
                  mismatch at a near-tie can be told from a real one.
tests/server/default_model_test.cc serves the checkpoint and checks the server against this
file (greedy tokens equal, prompt logprobs within 1e-3).

Usage: /usr/bin/python3 tools/train/reference.py --model_dir=models/rattn-fortunes
  [--out=MODEL_DIR/reference.json] [--prompts=10] [--prompt_bytes=96] [--new_tokens=64]
"""

import argparse
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "reference"))
import rattention_reference  # noqa: E402
import rattn_model  # noqa: E402
import train  # noqa: E402


def load_model(directory):
    """The checkpoint in `directory` as an RAttentionLM in float64."""
    config, tensors = rattention_reference.load_checkpoint(directory)
    model = rattn_model.RAttentionLM(config).double()
    state = {name: torch.from_numpy(value) for name, value in tensors.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        sys.exit(f"reference.py: {directory}: missing tensors {missing}, unexpected {unexpected}")
    return model.eval()


def held_out_prompts(seed, count, prompt_bytes, data):
    _, held_out = train.split(train.load_entries(data), seed)
    chosen = [entry for entry in held_out if len(entry) >= prompt_bytes][:count]
    if len(chosen) < count:
        sys.exit(f"reference.py: only {len(chosen)} held-out fortunes of {prompt_bytes} bytes")
    return [[train.BOS] + list(entry[:prompt_bytes]) for entry in chosen]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model_dir", required=True)
    parser.add_argument("--out", default="")
    parser.add_argument("--prompts", type=int, default=10)
    parser.add_argument("--prompt_bytes", type=int, default=96)
    parser.add_argument("--new_tokens", type=int, default=64)
    parser.add_argument("--data", default=train.DEFAULT_DATA)
    args = parser.parse_args()
    for name in ("prompts", "prompt_bytes", "new_tokens"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name} must be positive")
    with open(os.path.join(args.model_dir, "report.json")) as f:
        seed = json.load(f)["seed"]
    model = load_model(args.model_dir)
    torch.set_num_threads(os.cpu_count() or 1)

    cases = []
    with torch.no_grad():
        for prompt in held_out_prompts(seed, args.prompts, args.prompt_bytes, args.data):
            tokens = list(prompt)
            logits = model(torch.tensor([tokens]))[0]
            logprobs = torch.log_softmax(logits, dim=-1)
            prompt_logprobs = [logprobs[i - 1, tokens[i]].item() for i in range(1, len(tokens))]
            greedy, margins = [], []
            for _ in range(args.new_tokens):
                last = model(torch.tensor([tokens]))[0, -1]
                top = torch.topk(last, 2)
                greedy.append(int(top.indices[0]))
                margins.append((top.values[0] - top.values[1]).item())
                tokens.append(greedy[-1])
            cases.append({"prompt": prompt, "greedy": greedy, "prompt_logprobs": prompt_logprobs,
                          "margins": margins,
                          "text": bytes(t for t in tokens[1:] if t < 256).decode("utf-8",
                                                                               "replace")})
            print(f"{len(cases):2d}: min margin {min(margins):.2e}: {cases[-1]['text']!r}",
                  flush=True)
    out = args.out or os.path.join(args.model_dir, "reference.json")
    with open(out, "w") as f:
        json.dump({"model_dir": os.path.basename(os.path.normpath(args.model_dir)),
                   "seed": seed, "prompt_bytes": args.prompt_bytes,
                   "new_tokens": args.new_tokens, "cases": cases}, f, indent=1)
        f.write("\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
