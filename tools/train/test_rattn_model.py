"""The PyTorch model (rattn_model.py) against the independent numpy reference
(tests/reference/rattention_reference.py), which the engine's golden-logit test checks the C++
backends against: the same checkpoint gives the same logits, for every layer type, GQA, both
feature maps and sequences longer than the window. Also the checkpoint round trip in bf16.

Usage: /usr/bin/python3 tools/train/test_rattn_model.py
"""

import os
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "reference"))

import rattention_reference as reference  # noqa: E402
import rattn_model  # noqa: E402

# float64 on both sides: only the order of the sums differs.
TOLERANCE = 1e-9


def config_of(layers, window, heads, kv_heads, head_dim, feature_map, tied):
    return {
        "vocab_size": 67, "hidden_size": 32, "intermediate_size": 48,
        "num_hidden_layers": len(layers), "num_attention_heads": heads,
        "num_key_value_heads": kv_heads, "head_dim": head_dim, "sliding_window": window,
        "layer_types": layers, "rope_theta": 10000.0, "rms_norm_eps": 1e-5,
        "rla_norm_eps": 1e-5, "rla_feature_map": feature_map, "tie_word_embeddings": tied,
        "max_position_embeddings": 256, "bos_token_id": None, "eos_token_id": None,
    }


def check_same_logits(config, seed, failures):
    model = rattn_model.RAttentionLM(config)
    rattn_model.init_weights(model, seed)
    # Norm weights of 1 would hide a swapped norm: make them differ.
    with torch.no_grad():
        generator = torch.Generator().manual_seed(seed + 1)
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(0.1 * torch.randn(p.shape, generator=generator))
    tokens = torch.randint(0, config["vocab_size"], (1, 41),
                           generator=torch.Generator().manual_seed(seed))
    with tempfile.TemporaryDirectory() as directory:
        rattn_model.save_checkpoint(model, directory, dtype=torch.float32)
        ref_config, tensors = reference.load_checkpoint(directory)
        want = reference.forward(ref_config, tensors, tokens[0].numpy())
    with torch.no_grad():
        got = model.double()(tokens)[0].numpy()
    error = np.max(np.abs(got - want)) / np.max(np.abs(want))
    name = f"{config['layer_types']} w={config['sliding_window']} " \
           f"{config['num_attention_heads']}/{config['num_key_value_heads']} " \
           f"{config['rla_feature_map']}{' tied' if config['tie_word_embeddings'] else ''}"
    status = "ok" if error < TOLERANCE else "FAIL"
    print(f"  {status}: {name}: relative error {error:.2e}")
    if error >= TOLERANCE:
        failures.append(name)


def check_bf16_round_trip(failures):
    config = config_of(["rattention", "full_attention"], 8, 4, 2, 8, "softmax", False)
    model = rattn_model.RAttentionLM(config)
    rattn_model.init_weights(model, 3)
    with tempfile.TemporaryDirectory() as directory:
        rattn_model.save_checkpoint(model, directory, dtype=torch.bfloat16)
        _, tensors = reference.load_checkpoint(directory)
    wrong = [name for name, p in model.state_dict().items()
             if not np.array_equal(tensors[name], p.to(torch.bfloat16).to(torch.float64).numpy())]
    failures.extend(f"bf16 round trip of {name}" for name in wrong)
    print(f"  {'FAIL' if wrong else 'ok'}: bf16 checkpoint holds the rounded weights")


def check_loaded_model(failures):
    """reference.py's loader gives back the model whose weights train.py rounded and saved."""
    import reference as torch_reference  # tools/train/reference.py
    import train
    config = config_of(["rattention", "sliding_attention", "full_attention"], 4, 4, 2, 8,
                       "softmax", True)
    model = rattn_model.RAttentionLM(config)
    rattn_model.init_weights(model, 5)
    train.round_weights(model, torch.bfloat16)
    tokens = torch.randint(0, config["vocab_size"], (1, 23),
                           generator=torch.Generator().manual_seed(5))
    with tempfile.TemporaryDirectory() as directory:
        rattn_model.save_checkpoint(model, directory, dtype=torch.bfloat16)
        loaded = torch_reference.load_model(directory)
    with torch.no_grad():
        error = (loaded(tokens) - model.double()(tokens)).abs().max().item()
    ok = error < TOLERANCE
    print(f"  {'ok' if ok else 'FAIL'}: reference.py loads the saved bf16 model "
          f"(max difference {error:.1e})")
    if not ok:
        failures.append("reference.py's loader")


def main():
    failures = []
    print("PyTorch model against the numpy reference")
    cases = [
        (["rattention", "rattention", "rattention", "full_attention"], 8, 4, 2, 8, "softmax", False),
        (["sliding_attention", "full_attention"], 5, 4, 4, 8, "softmax", True),
        (["rattention", "sliding_attention"], 3, 6, 2, 16, "relu", False),
        (["full_attention"], 16, 2, 1, 16, "softmax", False),
    ]
    for i, case in enumerate(cases):
        check_same_logits(config_of(*case), 10 + i, failures)
    check_bf16_round_trip(failures)
    check_loaded_model(failures)
    if failures:
        print("FAILED:", "; ".join(failures))
        return 1
    print("PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
