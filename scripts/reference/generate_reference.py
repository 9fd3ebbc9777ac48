#!/usr/bin/env python3
"""Greedy generation with Hugging Face transformers, the reference for `softrl generate --greedy --prompt`.
Prints one JSON line per prompt: {"prompt", "chat", "ids" (new ids), "text" (decoded, special tokens skipped)}.
Usage: generate_reference.py MODEL_DIR --max-new-tokens N [--chat] PROMPT [PROMPT ...]"""
import argparse
import json

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

ap = argparse.ArgumentParser()
ap.add_argument("dir")
ap.add_argument("prompts", nargs="+")
ap.add_argument("--max-new-tokens", type=int, default=20)
ap.add_argument("--chat", action="store_true")
args = ap.parse_args()
torch.set_num_threads(1)
tok = AutoTokenizer.from_pretrained(args.dir)
model = AutoModelForCausalLM.from_pretrained(args.dir, dtype=torch.float32).eval()
for p in args.prompts:
    if args.chat:
        ids = tok.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True, tokenize=True,
                                      return_dict=True, return_tensors="pt")["input_ids"]
    else:
        ids = tok(p, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=args.max_new_tokens,
                             do_sample=False, num_beams=1)
    new = out[0, ids.shape[1]:].tolist()
    print(json.dumps({"prompt": p, "chat": args.chat, "promptIds": ids[0].tolist(), "ids": new,
                      "text": tok.decode(new, skip_special_tokens=True)}))
