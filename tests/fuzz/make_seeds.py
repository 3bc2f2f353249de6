#!/usr/bin/python3
"""Writes the fuzz targets' seed corpora (tests/fuzz/corpus/<target>/), small valid and nearly
valid inputs that give the fuzzers a start inside each format. Rerun after a format changes:

  tests/fuzz/make_seeds.py --make_checkpoint=build/release/tools/rattn-make-checkpoint \
      --python_stubs=build/release/proto/python
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    directory = os.path.join(HERE, "corpus", target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def checkpoint_seeds(make_checkpoint):
    shapes = {
        "rf_f32": ["--layers=r,f", "--dtype=f32"],
        "rsf_bf16_tied": ["--layers=r,s,f", "--dtype=bf16", "--tie_embeddings"],
        "ff_f16_relu": ["--layers=f,f", "--dtype=f16", "--feature_map=relu"],
        "llama": ["--layers=f", "--llama_config"],
    }
    for name, flags in shapes.items():
        with tempfile.TemporaryDirectory() as out:
            subprocess.run([make_checkpoint, f"--out={out}", "--vocab=40", "--hidden=16",
                            "--intermediate=24", "--heads=2", "--kv_heads=1", "--window=4",
                            "--max_positions=64", "--seed=1"] + flags,
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            with open(os.path.join(out, "config.json"), "rb") as f:
                config = f.read()
            with open(os.path.join(out, "model.safetensors"), "rb") as f:
                tensors = f.read()
        write("checkpoint_fuzzer", name, config + b"\0" + tensors)
        # The same with a truncated tensor section: the loader must name what is missing.
        write("checkpoint_fuzzer", name + "_truncated", config + b"\0" + tensors[: len(tensors) // 2])


def gpt2_symbol(byte):
    printable = ord("!") <= byte <= ord("~") or 0xA1 <= byte <= 0xAC or byte >= 0xAE
    if printable:
        return chr(byte)
    return chr(0x100 + sum(1 for b in range(byte) if not (
        ord("!") <= b <= ord("~") or 0xA1 <= b <= 0xAC or b >= 0xAE)))


def tokenizer_seeds():
    texts = {
        "ascii": b"the cat sat on the mat 123",
        "utf8": "café naïve 日本語 😀 <tool>".encode(),
        "invalid_utf8": b"ok \xff\xfe then \xc3",
        "empty": b"",
        "spaces": b"  two\n\nlines\t tab",
    }
    for mode, label in ((0, "bpe"), (2, "bytes")):
        for name, text in texts.items():
            write("tokenizer_fuzzer", f"{label}_{name}", bytes([mode]) + text)
    vocab = {gpt2_symbol(b): b for b in range(256)}
    merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("a", "t")]
    for i, (left, right) in enumerate(merges):
        vocab[left + right] = 256 + i
    document = {
        "added_tokens": [{"id": 260, "content": "<|endoftext|>", "special": True}],
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
        "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "vocab": vocab, "merges": [f"{l} {r}" for l, r in merges]},
    }
    write("tokenizer_fuzzer", "json_gpt2", b"\1" + json.dumps(document).encode())
    document["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "\\s+"}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False}]}
    write("tokenizer_fuzzer", "json_split", b"\1" + json.dumps(document).encode())
    write("tokenizer_fuzzer", "json_broken", b"\1" + json.dumps(document).encode()[:300])
    # Id streams: multi-byte characters split across tokens, unknown ids, specials.
    for mode, label in ((3, "bpe"), (4, "bytes")):
        ids = [0xE6 + 3, 0x97 + 3, 0xA5 + 3, 65, 300, 0xF0 + 3, 0x9F + 3, 2, 70]
        write("tokenizer_fuzzer", f"stream_{label}",
              bytes([mode]) + b"".join(i.to_bytes(2, "big") for i in ids))


def request_seeds(stubs):
    sys.path.insert(0, stubs)
    from rattn.v1 import rattn_pb2 as pb  # noqa: E402 (generated at build time)

    def seed(name, **fields):
        write("request_fuzzer", name, pb.GenerateRequest(**fields).SerializeToString())

    seed("text", text="Hello there", stopping=pb.StoppingCriteria(max_new_tokens=4))
    seed("ids_greedy", token_ids=pb.TokenIds(ids=[5, 6, 7, 8]),
         sampling=pb.SamplingParams(temperature=0), stopping=pb.StoppingCriteria(max_new_tokens=6))
    seed("sampling", text="abc", n=2, sampling=pb.SamplingParams(
        temperature=0.8, top_k=20, top_p=0.9, min_p=0.05, repetition_penalty=1.2,
        presence_penalty=0.5, frequency_penalty=0.5, seed=42),
         stopping=pb.StoppingCriteria(max_new_tokens=5))
    seed("stops", text="stop here", stopping=pb.StoppingCriteria(
        max_new_tokens=8, stop=["e", "xyz"], stop_token_ids=[3, 4], ignore_eos=True))
    seed("logprobs", token_ids=pb.TokenIds(ids=[10, 11, 12]),
         logprobs=pb.LogprobOptions(top_logprobs=3, prompt_logprobs=True),
         stopping=pb.StoppingCriteria(max_new_tokens=3), request_id="seed-1")
    seed("too_long", token_ids=pb.TokenIds(ids=list(range(3, 100))),
         stopping=pb.StoppingCriteria(max_new_tokens=4))
    seed("bad_values", text="x", n=1000000, sampling=pb.SamplingParams(
        temperature=float("nan"), top_k=-1, top_p=2.0), logprobs=pb.LogprobOptions(top_logprobs=21))
    seed("bad_ids", token_ids=pb.TokenIds(ids=[-1, 259, 2**31 - 1]), add_bos=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--make_checkpoint", required=True)
    parser.add_argument("--python_stubs", required=True)
    args = parser.parse_args()
    checkpoint_seeds(args.make_checkpoint)
    tokenizer_seeds()
    request_seeds(args.python_stubs)
    for target in sorted(os.listdir(os.path.join(HERE, "corpus"))):
        print(target, len(os.listdir(os.path.join(HERE, "corpus", target))), "seeds")


if __name__ == "__main__":
    main()
