"""The RAttention model in PyTorch, computed exactly as rattn's engine computes it.

Parameters are named as the checkpoint's tensors (docs/model-format.md), so that a state dict
is a checkpoint and back. The math follows the format's definition (and the independent numpy
reference, tests/reference/rattention_reference.py):

  full_attention     query t sees keys j <= t
  sliding_attention  query t sees keys t - w <= j <= t
  rattention         the sliding branch plus residual linear attention over keys j <= t - w - 1,
                     phi(q)^T phi(k) v with q and k before RoPE and without the 1/sqrt(d) scale;
                     each branch through its own per-head RMSNorm, then summed.

Everything runs over whole sequences with explicit masks, which is what training wants; the
engine's caches and recurrences compute the same function.
"""

import json
import math
import os
import struct

import torch
from torch import nn

LAYER_TYPES = ("rattention", "sliding_attention", "full_attention")


class RmsNorm(nn.Module):
    def __init__(self, shape, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(shape))
        self.eps = eps

    def forward(self, x):
        # Over the last axis; a (heads, d) weight normalizes each head of (..., heads, d) apart.
        scale = torch.rsqrt(torch.mean(x * x, dim=-1, keepdim=True) + self.eps)
        return x * scale * self.weight


def rope_tables(t, d, theta, dtype):
    """cos and sin of rotate-half RoPE over positions 0 .. t-1, shaped (1, t, 1, 1, d/2)."""
    inverse_frequency = theta ** (-2.0 * torch.arange(d // 2, dtype=torch.float64) / d)
    angle = torch.arange(t, dtype=torch.float64)[:, None] * inverse_frequency[None, :]
    shape = (1, t, 1, 1, d // 2)
    return torch.cos(angle).to(dtype).view(shape), torch.sin(angle).to(dtype).view(shape)


def rope(x, cos, sin):
    """Rotate-half RoPE. x: (B, T, kv_heads, group, d)."""
    half = x.shape[-1] // 2
    a, b = x[..., :half], x[..., half:]
    return torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)


def attention_masks(t, window, device):
    """Boolean (t, t) masks, True where query row may see key column: the softmax branch's
    (causal, or causal within the window) and the linear branch's (keys that left the window)."""
    rows = torch.arange(t, device=device)[:, None]
    cols = torch.arange(t, device=device)[None, :]
    causal = cols <= rows
    return causal, causal & (rows - cols <= window), cols <= rows - window - 1


def feature_map(x, kind):
    """phi over the last axis: (..., d) -> (..., 2d)."""
    if kind == "relu":
        return torch.cat([torch.relu(x), torch.relu(-x)], dim=-1)
    return torch.cat([torch.softmax(x, dim=-1), torch.softmax(-x, dim=-1)], dim=-1)


class Attention(nn.Module):
    def __init__(self, config, layer_type):
        super().__init__()
        h, nh, nkv, d = (config["hidden_size"], config["num_attention_heads"],
                         config["num_key_value_heads"], config["head_dim"])
        self.layer_type, self.nh, self.nkv, self.d = layer_type, nh, nkv, d
        self.window = config.get("sliding_window") or 0
        self.theta = config.get("rope_theta", 10000.0)
        self.kind = config.get("rla_feature_map", "softmax")
        self.q_proj = nn.Linear(h, nh * d, bias=False)
        self.k_proj = nn.Linear(h, nkv * d, bias=False)
        self.v_proj = nn.Linear(h, nkv * d, bias=False)
        self.o_proj = nn.Linear(nh * d, h, bias=False)
        if layer_type == "rattention":
            eps = config.get("rla_norm_eps", config.get("rms_norm_eps", 1e-6))
            self.swa_norm = RmsNorm((nh, d), eps)
            self.rla_norm = RmsNorm((nh, d), eps)

    def forward(self, x):
        # GQA without copying keys: queries as (B, T, kv_heads, group, d) against keys
        # (B, T, kv_heads, d); scores (B, kv_heads, group, T, T).
        b, t, _ = x.shape
        group = self.nh // self.nkv
        q = self.q_proj(x).view(b, t, self.nkv, group, self.d)
        k = self.k_proj(x).view(b, t, self.nkv, 1, self.d)
        v = self.v_proj(x).view(b, t, self.nkv, self.d)
        cos, sin = rope_tables(t, self.d, self.theta, q.dtype)
        causal, windowed, left = attention_masks(t, self.window, x.device)
        mask = causal if self.layer_type == "full_attention" else windowed
        scores = torch.einsum("btkgd,bskd->bkgts", rope(q, cos, sin), rope(k, cos, sin)[:, :, :, 0])
        scores = (scores / math.sqrt(self.d)).masked_fill(~mask, float("-inf"))
        out = torch.einsum("bkgts,bskd->btkgd", torch.softmax(scores, dim=-1), v)
        if self.layer_type == "rattention":
            weights = torch.einsum("btkgf,bskf->bkgts", feature_map(q, self.kind),
                                   feature_map(k[:, :, :, 0], self.kind))
            linear = torch.einsum("bkgts,bskd->btkgd", weights.masked_fill(~left, 0.0), v)
            heads = (b, t, self.nh, self.d)
            out = self.swa_norm(out.reshape(heads)) + self.rla_norm(linear.reshape(heads))
        return self.o_proj(out.reshape(b, t, self.nh * self.d))


class Mlp(nn.Module):
    def __init__(self, config):
        super().__init__()
        h, i = config["hidden_size"], config["intermediate_size"]
        self.gate_proj = nn.Linear(h, i, bias=False)
        self.up_proj = nn.Linear(h, i, bias=False)
        self.down_proj = nn.Linear(i, h, bias=False)

    def forward(self, x):
        return self.down_proj(nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, config, layer_type):
        super().__init__()
        eps = config.get("rms_norm_eps", 1e-6)
        self.input_layernorm = RmsNorm(config["hidden_size"], eps)
        self.self_attn = Attention(config, layer_type)
        self.post_attention_layernorm = RmsNorm(config["hidden_size"], eps)
        self.mlp = Mlp(config)

    def forward(self, x):
        x = x + self.self_attn(self.input_layernorm(x))
        return x + self.mlp(self.post_attention_layernorm(x))


class Backbone(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.embed_tokens = nn.Embedding(config["vocab_size"], config["hidden_size"])
        self.layers = nn.ModuleList(Layer(config, kind) for kind in config["layer_types"])
        self.norm = RmsNorm(config["hidden_size"], config.get("rms_norm_eps", 1e-6))


class RAttentionLM(nn.Module):
    """Logits (B, T, V) of token ids (B, T)."""

    def __init__(self, config):
        super().__init__()
        for kind in config["layer_types"]:
            if kind not in LAYER_TYPES:
                raise ValueError(f"unknown layer type {kind!r}")
        self.config = dict(config)
        self.model = Backbone(config)
        self.tied = bool(config.get("tie_word_embeddings", False))
        if not self.tied:
            self.lm_head = nn.Linear(config["hidden_size"], config["vocab_size"], bias=False)

    def forward(self, tokens):
        x = self.model.embed_tokens(tokens)
        for layer in self.model.layers:
            x = layer(x)
        x = self.model.norm(x)
        head = self.model.embed_tokens.weight if self.tied else self.lm_head.weight
        return x @ head.T


def init_weights(model, seed):
    """Projections N(0, 1/fan_in) (outputs of each residual branch scaled down by the depth),
    norms 1, embeddings N(0, 1/hidden) when tied to the head (logits of unit scale at the
    start), N(0, 1) otherwise."""
    generator = torch.Generator().manual_seed(seed)
    depth_scale = 1.0 / math.sqrt(2 * len(model.model.layers))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2 and "norm" not in name:
                std = 1.0 / math.sqrt(p.shape[1])
                if name.endswith(("o_proj.weight", "down_proj.weight")):
                    std *= depth_scale
                if "embed_tokens" in name:
                    std = 1.0 / math.sqrt(p.shape[1]) if model.tied else 1.0
                p.copy_(torch.randn(p.shape, generator=generator) * std)
            else:
                p.fill_(1.0)


_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


def save_checkpoint(model, directory, dtype=torch.bfloat16, extra_config=None):
    """Writes config.json and model.safetensors in rattn's format."""
    os.makedirs(directory, exist_ok=True)
    config = {"model_type": "rattention", "hidden_act": "silu", **model.config,
              **(extra_config or {})}
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    header, chunks, offset = {}, [], 0
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().to(dtype).contiguous()
        raw = tensor.view(torch.int16 if dtype != torch.float32 else torch.int32).numpy().tobytes()
        header[name] = {"dtype": _DTYPES[dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, sort_keys=True).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(os.path.join(directory, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in chunks:
            f.write(raw)
