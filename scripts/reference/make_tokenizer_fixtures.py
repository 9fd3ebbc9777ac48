#!/usr/bin/env python3
"""Tokenizer parity fixtures for Tests/TextTokenizersTests/Fixtures, made with the Python `tokenizers` package.

Trains small BPE tokenizers offline on a corpus written here (English, code, digits, Unicode, CJK, emoji), one per
family SoftRL supports, and records what `tokenizers` does on test texts:

  gpt2.tokenizer.json      byte-level, GPT-2 ByteLevel pre-tokenizer (regex inside ByteLevel)
  llama3.tokenizer.json    byte-level, Llama-3 Split regex + ByteLevel(use_regex=False), ignore_merges, BOS template
  smollm.tokenizer.json    byte-level, Digits(individual) + ByteLevel, ChatML specials (SmolLM2's layout)
  llama2.tokenizer.json    SentencePiece-style: Prepend/Replace normalizer, byte fallback, fused unk, <s> template,
                           Replace/ByteFallback/Fuse/Strip decoder (Llama 2 / TinyLlama legacy layout)
  metaspace.tokenizer.json SentencePiece-style: Metaspace pre-tokenizer (prepend_scheme first), byte fallback,
                           Metaspace decoder (the newer Llama layout)

cases.json: for every tokenizer and text: ids with and without special tokens, and the decoded text with and
without skipping special tokens. With --smollm2 DIR (a directory holding SmolLM2's tokenizer.json, made by
scripts/get-smollm2.sh) it also writes smollm2_cases.json (ids only; the tokenizer itself stays out of git).

Usage: python scripts/reference/make_tokenizer_fixtures.py [--out DIR] [--smollm2 models/SmolLM2-135M-Instruct]
"""
import argparse
import json
import os
import random

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")

CORPUS = [
    "The quick brown fox jumps over the lazy dog. It's 12:30 and we're late; they'll wait, won't they?",
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May.",
    "How many clips did Natalia sell altogether in April and May? #### 72",
    "def add(a, b):\n    return a + b\n\nfor i in range(10):\n    print(add(i, i * 2))\n",
    "let x: [Int32] = [1, 2, 3] // Swift arrays\nfunc f() -> Int { return x.count }\n",
    "if (a != b && c >= 0) { y = x ** 2; } else { y = -1; }",
    "Prices: $3.50, €4,20, £100; 2024-11-27T01:30:00Z; 3.14159; 1e-6; 0x1F; 1,000,000.",
    "Das Mädchen läuft schnell über die Straße. Voilà, c'est très élégant. ¿Qué tal? Ça va!",
    "Москва — столица России. Ελληνικά γράμματα. עברית. العربية.",
    "日本語のテキストと中文文本，还有한국어 문장。東京は大きい。",
    "Emoji: 😀 👍🏽 🚀✨ 👨‍👩‍👧 and flags 🇫🇷.",
    "Whitespace:   three spaces,\ttab, \n\nnewlines,\r\nCRLF,     five spaces   at end   ",
    "Numbers 1 22 333 4444 55555 666666 1234567890 and 3+4=7, 12*12=144, 1000/8=125.",
    "She said \"hello\" and he said 'goodbye'. ALL CAPS TEXT HERE. MiXeD CaSe WoRdS.",
    "Question: Tom has 3 apples and buys 5 more. How many apples does he have? The final answer is: 8",
    "Let's think step by step. First, 3 + 5 = 8. So the answer is 8.",
]

TEXTS = [
    "",
    "Hello world",
    " Hello world",
    "Hello  world",
    "hello\nworld\n",
    "It's I'M they'LL we'Re you've he'd she's IT'S",
    "   leading and trailing spaces   ",
    "a" * 40 + " " + "ab" * 30,
    " " * 17 + "x" + "\t" * 5 + "y" + "\n" * 4 + "z" + " \n " * 3,
    "line one\r\nline two\r\n\r\n  indented\n\ttabbed",
    "12345678901234567890 and 3.14159 and 1,000,000 and 007",
    "x1 y22 z333 w4444 1a2b3c",
    "def f(x):\n    return x ** 2  # square\n\n\nprint(f(12))",
    "if (a<=b){c[i]+=d->e;}else{return -1;}",
    "Straße Mädchen naïve café résumé Ωμέγα",
    "Привет, мир! Как дела?",
    "日本語のテキスト、中文文本。한국어 문장!",
    "Emoji 😀👍🏽🚀 family 👨‍👩‍👧 flag 🇫🇷 end",
    "combining e\u0301 and a\u0308 vs é ä; nbsp\u00a0here; zero\u200bwidth; ideographic\u3000space",
    "<|im_start|>user\nWhat is 12 + 7?<|im_end|>\n<|im_start|>assistant\n",
    "text<|endoftext|>more text <|endoftext|> and <|im_end|>",
    "<s>Hello</s> <unk> tokens <s> inside",
    "The final answer is: 42",
    "Q: Natalia sold 48 clips in April and half as many in May. How many in total?\nA: 48 + 24 = 72. #### 72",
    "💡 Idea: 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math ∑∫√∞ ≠ ≤ ≥ → ←",
    "tabs\t\tand\u000bvertical\u000cform feed\u0085next line\u2028line sep",
    "'''quoted''' \"\"\"doc\"\"\" `code` ~tilde~ ^caret^ |pipe|",
    "a'b a'S A'LL 'tis '",
    "?!?! ... --- ___ *** ### @@@ $$$ %%% &&&",
    "\n\n\n",
    "   ",
    "x",
    "\u00e9\u00e9\u00e9 \u4e2d\u4e2d \U0001F600\U0001F600",
]


def random_texts(n, seed):
    rng = random.Random(seed)
    pools = [
        "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", "      ", "\t\n\r",
        ".,;:!?'\"()[]{}<>-_=+*/\\|@#$%^&~`", "äöüßéèêñçøå", "日本語中文한국어", "😀👍🚀✨🎉", "\u00a0\u3000\u2009",
        "αβγδεζηθ", "абвгдеёж", "'s't're've'm'll'd",
    ]
    out = []
    for _ in range(n):
        length = rng.randint(1, 60)
        s = []
        while len(s) < length:
            pool = rng.choice(pools)
            run = rng.randint(1, 6)
            s.extend(rng.choice(pool) for _ in range(run))
        out.append("".join(s))
    return out


def train_byte_level(pre, specials, template=None, ignore_merges=False, vocab_size=900):
    tok = Tokenizer(models.BPE(ignore_merges=ignore_merges))
    tok.pre_tokenizer = pre
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS * 3, trainer=trainer)
    if template:
        tok.post_processor = template
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


def with_byte_tokens(tok, specials):
    """Rebuild a trained SentencePiece-style BPE so that <0x00>..<0xFF> are ordinary vocabulary entries right
    after the specials (as in Llama 2), then reload it through `tokenizers` to check it."""
    data = json.loads(tok.to_str())
    trained = data["model"]["vocab"]
    vocab = {s: i for i, s in enumerate(specials)}
    for b in range(256):
        vocab["<0x%02X>" % b] = len(vocab)
    for token, _ in sorted(trained.items(), key=lambda kv: kv[1]):
        if token not in vocab:
            vocab[token] = len(vocab)
    data["model"]["vocab"] = vocab
    data["model"]["byte_fallback"] = True
    data["model"]["fuse_unk"] = True
    data["model"]["unk_token"] = "<unk>"
    for a in data["added_tokens"]:
        a["id"] = vocab[a["content"]]
    return Tokenizer.from_str(json.dumps(data))


def train_sentencepiece_style(kind):
    specials = ["<unk>", "<s>", "</s>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    # Training splits on Metaspace words; the limited alphabet leaves rare characters to byte fallback.
    tok.normalizer = None
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    trainer = trainers.BpeTrainer(vocab_size=700, special_tokens=specials, limit_alphabet=90, show_progress=False)
    tok.train_from_iterator(CORPUS * 3, trainer=trainer)
    tok = with_byte_tokens(tok, specials)
    if kind == "llama2":
        tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
        tok.pre_tokenizer = None
        tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                         decoders.Strip(" ", 1, 0)])
    else:
        tok.normalizer = None
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
        tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", 1)])
    return tok


def cases_for(tok, texts):
    out = []
    for t in texts:
        with_special = tok.encode(t, add_special_tokens=True).ids
        plain = tok.encode(t, add_special_tokens=False).ids
        out.append({
            "text": t,
            "ids": with_special,
            "idsNoSpecial": plain,
            "decoded": tok.decode(with_special, skip_special_tokens=False),
            "decodedSkip": tok.decode(with_special, skip_special_tokens=True),
        })
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "../../Tests/TextTokenizersTests/Fixtures"))
    ap.add_argument("--smollm2", default=None, help="directory with SmolLM2's tokenizer.json")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    chatml = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    toks = {
        "gpt2": train_byte_level(pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True), chatml),
        "llama3": train_byte_level(
            pre_tokenizers.Sequence([
                pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]),
            ["<|begin_of_text|>", "<|end_of_text|>"],
            template=processors.TemplateProcessing(single="<|begin_of_text|> $A", special_tokens=[("<|begin_of_text|>", 0)]),
            ignore_merges=True),
        "smollm": train_byte_level(
            pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                     pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]), chatml),
        "llama2": train_sentencepiece_style("llama2"),
        "metaspace": train_sentencepiece_style("metaspace"),
    }
    texts = TEXTS + random_texts(80, seed=11)
    cases = {}
    for name, tok in toks.items():
        tok.save(os.path.join(args.out, f"{name}.tokenizer.json"), pretty=False)
        # Reload from disk so the cases describe exactly the committed file.
        cases[name] = cases_for(Tokenizer.from_file(os.path.join(args.out, f"{name}.tokenizer.json")), texts)
    with open(os.path.join(args.out, "cases.json"), "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False, separators=(",", ":"))
    if args.smollm2:
        tok = Tokenizer.from_file(os.path.join(args.smollm2, "tokenizer.json"))
        with open(os.path.join(args.out, "smollm2_cases.json"), "w", encoding="utf-8") as f:
            json.dump(cases_for(tok, texts), f, ensure_ascii=False, separators=(",", ":"))
    print("wrote", ", ".join(sorted(toks)), "to", os.path.abspath(args.out))


if __name__ == "__main__":
    main()
