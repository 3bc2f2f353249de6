"""Trains a small byte-level RAttention model on the fortunes of Debian's `fortunes` package and
writes it in rattn's checkpoint format (docs/model-format.md).

The text: every fortune file under /usr/share/games/fortunes (not the offensive ones), split
into entries at the '%' lines; entries are shuffled with the seed and every 20th goes to the
held-out split. A sequence is bos, the entry's UTF-8 bytes, eos, so ids follow rattn's byte
tokenizer (bytes 0-255, bos 256, eos 257, pad 258) and the checkpoint needs no tokenizer file.

Training: windows of --context bytes drawn from the training stream, AdamW with warm-up and
cosine decay over --steps steps, on the CPU. Master weights, gradients and optimizer state are
float32; with --precision=bf16 (the default where the CPU has AVX512-BF16 or AMX) the GEMMs run
in bfloat16 under autocast, about three times faster than float32 on a Zen 4. The run is a
function of its arguments and seed alone (a fixed step count, deterministic algorithms, fixed
thread count), so the same command gives the same model. Every --eval_every steps the held-out
bits per byte (mean negative log-likelihood in bits of each next byte over fixed held-out
windows) is measured; the final figure is over the whole held-out stream, computed in float32
with the weights rounded to the checkpoint's dtype, i.e. the model the server runs. Writes into
--out:
  config.json, model.safetensors   the checkpoint (--dtype bf16 or f16)
  curve.csv                        step, seconds, training loss, held-out bits per byte
  report.json                      sizes, data, time, final figures

Usage: /usr/bin/python3 tools/train/train.py --out=DIR [--layers=r,r,r,f,r,r,r,f]
  [--window=32] [--steps=1000] [--seed=1] ...
"""

import argparse
import csv
import glob
import json
import math
import os
import random
import sys
import time

# OpenBLAS's own threads and torch's OpenMP threads oversubscribe the cores: torch parallelizes.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rattn_model  # noqa: E402

BOS, EOS, VOCAB = 256, 257, 259
DEFAULT_DATA = "/usr/share/games/fortunes"
LAYER_NAMES = {"r": "rattention", "s": "sliding_attention", "f": "full_attention"}


def load_entries(directory):
    entries = []
    for path in sorted(glob.glob(os.path.join(directory, "*"))):
        name = os.path.basename(path)
        if not os.path.isfile(path) or "." in name:  # skips the .dat indexes and .u8 copies
            continue
        with open(path, "rb") as f:
            text = f.read()
        for entry in text.split(b"\n%\n"):
            entry = entry.strip(b"\n%")
            if entry:
                entries.append(entry)
    return entries


def split(entries, seed):
    order = list(range(len(entries)))
    random.Random(seed).shuffle(order)
    train = [entries[i] for k, i in enumerate(order) if k % 20 != 0]
    held_out = [entries[i] for k, i in enumerate(order) if k % 20 == 0]
    return train, held_out


def stream(entries):
    ids = []
    for entry in entries:
        ids.append(BOS)
        ids.extend(entry)
        ids.append(EOS)
    return torch.tensor(ids, dtype=torch.long)


def config_for(args):
    layers = [LAYER_NAMES[c] for c in args.layers.split(",")]
    return {
        "vocab_size": VOCAB, "hidden_size": args.hidden, "intermediate_size": args.intermediate,
        "num_hidden_layers": len(layers), "num_attention_heads": args.heads,
        "num_key_value_heads": args.kv_heads, "head_dim": args.hidden // args.heads,
        "sliding_window": args.window, "layer_types": layers, "rope_theta": 10000.0,
        "rms_norm_eps": 1e-5, "rla_norm_eps": 1e-5, "rla_feature_map": "softmax",
        "tie_word_embeddings": True, "max_position_embeddings": 4096,
        "bos_token_id": BOS, "eos_token_id": EOS,
    }


def cpu_has_bf16():
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def held_out_bits_per_byte(model, data, context, starts, bf16):
    """Mean next-byte negative log-likelihood in bits over the windows at `starts`."""
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for batch in starts.split(16):
            x = torch.stack([data[s:s + context] for s in batch])
            y = torch.stack([data[s + 1:s + context + 1] for s in batch])
            logits = model(x).float()
            nll = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1),
                                                    reduction="sum")
            total += nll.item()
            count += y.numel()
    model.train()
    return total / count / math.log(2)


def round_weights(model, dtype):
    """Rounds every parameter to `dtype` and back, in place: the checkpoint's values."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(dtype).float())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--layers", default="r,r,r,f,r,r,r,f",
                        help="r = rattention, s = sliding_attention, f = full_attention")
    parser.add_argument("--window", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--intermediate", type=int, default=768)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--kv_heads", type=int, default=4)
    parser.add_argument("--context", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--precision", choices=["auto", "bf16", "f32"], default="auto",
                        help="of the GEMMs while training (auto: bf16 where the CPU has it)")
    parser.add_argument("--eval_every", type=int, default=100)
    parser.add_argument("--eval_windows", type=int, default=256)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--dtype", choices=["bf16", "f16"], default="bf16")
    parser.add_argument("--data", default=DEFAULT_DATA)
    args = parser.parse_args()
    for name in ("window", "hidden", "intermediate", "heads", "kv_heads", "context", "batch",
                 "steps", "warmup", "eval_every", "eval_windows", "threads"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name} must be positive")
    if args.hidden % args.heads or args.heads % args.kv_heads or (args.hidden // args.heads) % 2:
        parser.error("--heads must divide --hidden into even head sizes, --kv_heads divide --heads")
    if any(c not in LAYER_NAMES for c in args.layers.split(",")):
        parser.error("--layers takes r, s and f separated by commas")

    bf16 = args.precision == "bf16" or (args.precision == "auto" and cpu_has_bf16())
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    entries = load_entries(args.data)
    if not entries:
        sys.exit(f"train.py: no fortunes under {args.data} (apt-get install fortunes)")
    train_entries, held_entries = split(entries, args.seed)
    train_data, held_data = stream(train_entries), stream(held_entries)
    if min(len(train_data), len(held_data)) <= args.context + 1:
        sys.exit(f"train.py: --context {args.context} is longer than the data")
    config = config_for(args)
    model = rattn_model.RAttentionLM(config)
    rattn_model.init_weights(model, args.seed)
    parameters = sum(p.numel() for p in model.parameters())
    print(f"{len(train_entries)} training and {len(held_entries)} held-out fortunes "
          f"({len(train_data)} / {len(held_data)} bytes); {parameters / 1e6:.2f}M parameters, "
          f"layers {args.layers}, w = {args.window}, GEMMs in {'bf16' if bf16 else 'f32'}",
          flush=True)

    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95),
                                  weight_decay=0.1)
    generator = torch.Generator().manual_seed(args.seed)
    eval_starts = torch.linspace(0, len(held_data) - args.context - 2, args.eval_windows).long()
    rows = []

    def evaluate(step, train_bits):
        bpb = held_out_bits_per_byte(model, held_data, args.context, eval_starts, bf16)
        rows.append((step, round(time.monotonic() - start, 1), train_bits, bpb))
        print(f"step {step:5d}  {rows[-1][1]:7.0f} s  train {train_bits:.3f} bits/byte  "
              f"held-out {bpb:.3f} bits/byte", flush=True)

    os.makedirs(args.out, exist_ok=True)
    start = time.monotonic()
    evaluate(0, float("nan"))
    for step in range(args.steps):
        # Linear warm-up, then cosine decay to a tenth.
        lr = args.lr * min(1.0, (step + 1) / args.warmup) * \
            (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / args.steps)))
        for group in optimizer.param_groups:
            group["lr"] = lr
        starts = torch.randint(0, len(train_data) - args.context - 1, (args.batch,),
                               generator=generator)
        x = torch.stack([train_data[s:s + args.context] for s in starts])
        y = torch.stack([train_data[s + 1:s + args.context + 1] for s in starts])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, VOCAB),
                                                 y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            evaluate(step + 1, loss.item() / math.log(2))
    train_seconds = time.monotonic() - start

    # The final figure: the checkpoint's weights, float32 arithmetic, every held-out byte
    # (non-overlapping windows of --context bytes).
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float16
    round_weights(model, dtype)
    whole = torch.arange(0, len(held_data) - args.context - 1, args.context)
    final_bpb = held_out_bits_per_byte(model, held_data, args.context, whole, bf16=False)
    with open(os.path.join(args.out, "curve.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", "seconds", "train_bits_per_byte", "held_out_bits_per_byte"])
        writer.writerows((r[0], r[1], f"{r[2]:.4f}", f"{r[3]:.4f}") for r in rows)
    rattn_model.save_checkpoint(model, args.out, dtype=dtype)
    report = {
        "layers": args.layers, "window": args.window, "parameters": parameters,
        "steps": args.steps, "train_seconds": round(train_seconds, 1), "seed": args.seed,
        "tokens_seen": args.steps * args.batch * args.context,
        "held_out_bits_per_byte": round(final_bpb, 4),
        "held_out_bytes_scored": int(whole.numel() * args.context),
        "train_fortunes": len(train_entries), "held_out_fortunes": len(held_entries),
        "train_bytes": len(train_data), "held_out_bytes": len(held_data),
        "dtype": args.dtype, "precision": "bf16" if bf16 else "f32", "context": args.context,
        "batch": args.batch, "lr": args.lr, "threads": args.threads,
        "command": " ".join(sys.argv[1:]),
    }
    with open(os.path.join(args.out, "report.json"), "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    print(f"done: {args.steps} steps in {train_seconds:.0f} s, held-out {final_bpb:.4f} "
          f"bits/byte (whole split, {args.dtype} weights); checkpoint in {args.out}")


if __name__ == "__main__":
    main()
