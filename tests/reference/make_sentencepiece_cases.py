#!/usr/bin/env python3
"""Writes the SentencePiece reference cases: trains a small model with byte fallback on a corpus
this script composes (English, accented Latin, Greek, Cyrillic, Japanese, Chinese, emoji), then
encodes and decodes test strings with the library's Python binding, which the C++ tokenizer must
reproduce. Run with Debian's /usr/bin/python3 and python3-sentencepiece.

Output in DIR: tokenizer.model, and cases.json with
  bos_id, eos_id, unk_id,
  cases: [{text, ids, ids_with_bos, decoded}], where decoded = decode(ids),
  single: [{id, decoded}] for every id, decoded = decode([id]),
  sequences: [{ids, decoded}] for id sequences chosen to show where decode drops the space of
    a leading U+2581 (while the text decoded so far is empty) and where it does not.

Usage: make_sentencepiece_cases.py --out DIR
"""

import argparse
import itertools
import json
import os

import sentencepiece as spm

SUBJECTS = ["The old baker", "A young pilot", "Our neighbour", "The café owner", "Zoë",
            "The river", "Every student", "München's mayor"]
VERBS = ["bakes", "carries", "paints", "remembers", "sells", "writes about", "prefers"]
OBJECTS = ["fresh bread", "crème brûlée", "a naïve façade", "the señor's piñata",
           "forty-two books", "an old map", "cold water", "the résumé"]
OTHER_LANGUAGES = [
    "日本語のテキストを書きます。", "東京は大きな都市です。",
    "今日はいい天気ですね。", "中文字符测试。", "我们在北京学习中文。",
    "Ελληνικά γράμματα και λέξεις.", "Привет, как дела сегодня?", "Москва — большой город.",
]
EMOJI = ["Great job 🎉", "See you soon 😀", "Coffee ☕ time"]

TEST_STRINGS = [
    "Hello world",
    "hello, world!",
    "The café serves crème brûlée.",
    "Zoë's naïve façade",
    "  leading, inner   and trailing spaces  ",
    "日本語のテキスト",
    "我们学习中文",
    "Привет, мир",
    "Ελληνικά",
    "한국어 텍스트",  # Hangul is absent from the corpus: byte fallback
    "emoji 😀 and 🎉🎉",
    "🙂",
    "x😀y",
    "flag 🇫🇷 and family 👨‍👩‍👧",
    "𝄞 G clef",
    "math ∑ ∫ √2 ≈ 1.414",
    "tabs\tand\nnewlines",
    "ﬁnancial ligature",
    "ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ",
    "",
    "a",
    " ",
    "12345 67890",
    "MiXeD CaSe WoRdS",
    "combining z\u0337\u0322a\u0336l\u0338g\u0335o",
    "<s> is not a control token in text </s>",
    "quotes “like” ‘this’",
    "ÀÉÎÕÜ àéîõü",
    "repeated aaaaaaaaaaaaaaaaaaaaaaaa",
    "Ω≠Ω ∞ ☃ ♞",
    "¿Qué tal, señor?",
]


def corpus_lines():
    lines = []
    for subject, verb, obj in itertools.product(SUBJECTS, VERBS, OBJECTS):
        lines.append(f"{subject} {verb} {obj}.")
    lines += OTHER_LANGUAGES * 8
    lines += EMOJI * 2
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="output directory")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    corpus = os.path.join(args.out, "corpus.txt")
    with open(corpus, "w", encoding="utf-8") as f:
        f.write("\n".join(corpus_lines()) + "\n")
    prefix = os.path.join(args.out, "tokenizer")
    # 256 byte pieces + unk, bos, eos + learned pieces. Rare characters (the emoji among them)
    # fall outside the character coverage and are spelled with byte pieces.
    spm.SentencePieceTrainer.train(
        input=corpus, model_prefix=prefix, vocab_size=400, model_type="unigram",
        byte_fallback=True, character_coverage=0.995, add_dummy_prefix=True,
        num_threads=1, minloglevel=2)
    sp = spm.SentencePieceProcessor(model_file=prefix + ".model")

    cases = []
    for text in TEST_STRINGS:
        ids = sp.encode(text)
        cases.append({"text": text, "ids": ids, "ids_with_bos": sp.encode(text, add_bos=True),
                      "decoded": sp.decode(ids)})
    uses_bytes = sum(any(sp.is_byte(i) for i in case["ids"]) for case in cases)
    if uses_bytes < 4:
        raise SystemExit(f"only {uses_bytes} cases use byte fallback; adjust the corpus")

    single = [{"id": i, "decoded": sp.decode([i])} for i in range(sp.get_piece_size())]

    boundary = "\u2581"
    word = next(p for p in (sp.id_to_piece(i) for i in range(sp.get_piece_size()))
                if p.startswith(boundary) and len(p) > 1)
    piece_sequences = [
        [boundary, word], [boundary, boundary, word], ["<s>", word], ["<s>", boundary, word],
        ["<unk>", word], ["<0x20>", word], ["<0x41>", word], ["<0xE3>", word],
        ["<0xF0>", "<0x9F>", "<0x98>", "<0x80>", word], [word, word, "</s>"],
    ]
    sequences = []
    for pieces in piece_sequences:
        ids = [sp.piece_to_id(p) for p in pieces]
        sequences.append({"ids": ids, "decoded": sp.decode(ids)})

    with open(os.path.join(args.out, "cases.json"), "w", encoding="utf-8") as f:
        json.dump({"bos_id": sp.bos_id(), "eos_id": sp.eos_id(), "unk_id": sp.unk_id(),
                   "cases": cases, "single": single, "sequences": sequences},
                  f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
