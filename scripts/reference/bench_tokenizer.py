#!/usr/bin/env python3
"""Encoding speed of the Python `tokenizers` package (Rust) on one text, for `softrl bench tokenizer`.
Prints one JSON line: load seconds, cold and warm encode seconds of the whole text in one call, token count, and
the ids' SHA-256 so the caller can check both implementations produced the same ids.
Usage: bench_tokenizer.py TOKENIZER_JSON TEXT_FILE [--repeats N]"""
import hashlib
import json
import os
import struct
import sys
import time

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
from tokenizers import Tokenizer  # noqa: E402

path, text_file = sys.argv[1], sys.argv[2]
repeats = int(sys.argv[sys.argv.index("--repeats") + 1]) if "--repeats" in sys.argv else 3
text = open(text_file, encoding="utf-8").read()
t0 = time.perf_counter()
tok = Tokenizer.from_file(path)
load = time.perf_counter() - t0
t0 = time.perf_counter()
ids = tok.encode(text, add_special_tokens=False).ids
cold = time.perf_counter() - t0
warm = []
for _ in range(repeats):
    t0 = time.perf_counter()
    tok.encode(text, add_special_tokens=False)
    warm.append(time.perf_counter() - t0)
digest = hashlib.sha256(b"".join(struct.pack("<i", i) for i in ids)).hexdigest()
print(json.dumps({"load": load, "cold": cold, "warm": min(warm), "tokens": len(ids), "sha256": digest}))
