"""Whole-sequence logits of a rattn checkpoint, computed straight from the model's formulas.

This is the independent reference the C++ backends are tested against. It shares no code with
them: it reads config.json and the *.safetensors files itself, works in float64, and evaluates
every attention with explicit masks over the whole sequence (no caches, no recurrence):

  full_attention     query t sees keys j with j <= t
  sliding_attention  query t sees keys j with 0 <= t - j <= w
  rattention         the sliding branch, plus linear attention with phi over keys j <= t - w - 1,
                     on q and k before RoPE and without the 1/sqrt(d) scale; each branch through
                     its own per-head RMSNorm, then summed.

See docs/model-format.md for the format and the math.
"""

import glob
import json
import os
import struct

import numpy as np

_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2"),
           "I32": np.dtype("<i4"), "I64": np.dtype("<i8")}


def read_safetensors(path):
    """Returns ({name: float64 or integer array}, metadata) for one safetensors file."""
    with open(path, "rb") as f:
        blob = f.read()
    (header_len,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + header_len])
    data = blob[8 + header_len:]
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        dtype = entry["dtype"]
        raw = np.frombuffer(data[begin:end], dtype=_DTYPES[dtype])
        if dtype == "BF16":
            values = (raw.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        elif dtype in ("F32", "F16"):
            values = raw.astype(np.float64)
        else:
            values = raw.copy()
        tensors[name] = values.reshape(entry["shape"])
    return tensors, metadata


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: array} (float32 or int32 arrays) as one safetensors file."""
    header = {}
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    chunks = []
    offset = 0
    for name, array in tensors.items():
        array = np.ascontiguousarray(array)
        dtype = {np.dtype(np.float32): "F32", np.dtype(np.int32): "I32"}[array.dtype]
        raw = array.astype(array.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in chunks:
            f.write(raw)


def load_checkpoint(directory):
    with open(os.path.join(directory, "config.json")) as f:
        config = json.load(f)
    tensors = {}
    for path in sorted(glob.glob(os.path.join(directory, "*.safetensors"))):
        tensors.update(read_safetensors(path)[0])
    return config, tensors


def layer_types(config):
    n = config["num_hidden_layers"]
    if config["model_type"] == "rattention":
        return list(config["layer_types"])
    if config["model_type"] == "mistral" and config.get("sliding_window"):
        return ["sliding_attention"] * n
    return ["full_attention"] * n


def rms_norm(x, weight, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def rope(x, positions, theta):
    """Rotate-half RoPE. x: (T, heads, d)."""
    d = x.shape[-1]
    inverse_frequency = theta ** (-2.0 * np.arange(d // 2) / d)
    angle = positions[:, None] * inverse_frequency[None, :]  # (T, d/2)
    cos = np.cos(angle)[:, None, :]
    sin = np.sin(angle)[:, None, :]
    a, b = x[..., : d // 2], x[..., d // 2:]
    return np.concatenate([a * cos - b * sin, b * cos + a * sin], axis=-1)


def softmax(x, axis=-1):
    x = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(x)
    return e / np.sum(e, axis=axis, keepdims=True)


def feature_map(x, kind):
    """phi over the last axis: (..., d) -> (..., 2d)."""
    if kind == "relu":
        return np.concatenate([np.maximum(x, 0), np.maximum(-x, 0)], axis=-1)
    return np.concatenate([softmax(x), softmax(-x)], axis=-1)


def forward(config, tensors, tokens):
    """Logits (T, vocab) for every position of `tokens`, in float64."""
    hidden = config["hidden_size"]
    nh = config["num_attention_heads"]
    nkv = config.get("num_key_value_heads") or nh
    d = config.get("head_dim") or hidden // nh
    w = config.get("sliding_window") or 0
    eps = config.get("rms_norm_eps", 1e-6)
    rla_eps = config.get("rla_norm_eps", eps)
    theta = config.get("rope_theta", 10000.0)
    kind = config.get("rla_feature_map", "softmax")
    group = nh // nkv

    tokens = np.asarray(tokens)
    T = len(tokens)
    t = np.arange(T)[:, None]
    s = np.arange(T)[None, :]
    causal = s <= t
    window = causal & (t - s <= w)
    left_window = s <= t - w - 1
    positions = np.arange(T, dtype=np.float64)

    x = tensors["model.embed_tokens.weight"][tokens]
    for i, layer_type in enumerate(layer_types(config)):
        p = f"model.layers.{i}."
        xn = rms_norm(x, tensors[p + "input_layernorm.weight"], eps)
        q = (xn @ tensors[p + "self_attn.q_proj.weight"].T).reshape(T, nh, d)
        k = (xn @ tensors[p + "self_attn.k_proj.weight"].T).reshape(T, nkv, d)
        v = (xn @ tensors[p + "self_attn.v_proj.weight"].T).reshape(T, nkv, d)
        k_heads = np.repeat(k, group, axis=1)  # query head h reads kv head h // group
        v_heads = np.repeat(v, group, axis=1)

        scores = np.einsum("thd,shd->hts", rope(q, positions, theta),
                           rope(k_heads, positions, theta)) / np.sqrt(d)
        mask = causal if layer_type == "full_attention" else window
        scores = np.where(mask[None], scores, -np.inf)
        out = np.einsum("hts,shd->thd", softmax(scores), v_heads)

        if layer_type == "rattention":
            weights = np.einsum("thf,shf->hts", feature_map(q, kind), feature_map(k_heads, kind))
            linear = np.einsum("hts,shd->thd", weights * left_window[None], v_heads)
            out = (rms_norm(out, tensors[p + "self_attn.swa_norm.weight"], rla_eps) +
                   rms_norm(linear, tensors[p + "self_attn.rla_norm.weight"], rla_eps))

        x = x + out.reshape(T, nh * d) @ tensors[p + "self_attn.o_proj.weight"].T
        hn = rms_norm(x, tensors[p + "post_attention_layernorm.weight"], eps)
        gate = hn @ tensors[p + "mlp.gate_proj.weight"].T
        up = hn @ tensors[p + "mlp.up_proj.weight"].T
        x = x + (gate / (1.0 + np.exp(-gate)) * up) @ tensors[p + "mlp.down_proj.weight"].T

    x = rms_norm(x, tensors["model.norm.weight"], eps)
    head = tensors.get("lm_head.weight")
    if config.get("tie_word_embeddings", False) or head is None:
        head = tensors["model.embed_tokens.weight"]
    return x @ head.T
