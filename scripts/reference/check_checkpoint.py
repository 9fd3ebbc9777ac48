"""Interop check: load a Hugging Face Llama checkpoint with transformers and print last-position logits.

What it is: the Python side of the SoftRL interop test — point it at a directory SoftRL wrote
(config.json + model.safetensors) and it prints one JSON array of V floats on stdout: the logits
at the last position for the given token ids (fp32, eager attention, batch 1, positions 0..T-1).
What it is not: a validator of the file format beyond what transformers itself enforces; a load
that reports missing or unexpected weights is treated as an error (exit 1) rather than ignored.

Usage:  .venv/bin/python scripts/reference/check_checkpoint.py CKPT_DIR --tokens 1,2,3
"""

import argparse
import json
import sys


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("ckpt_dir")
    ap.add_argument("--tokens", required=True, help="comma-separated token ids, e.g. 1,2,3")
    args = ap.parse_args()
    tokens = [int(t) for t in args.tokens.split(",") if t.strip()]
    if not tokens:
        print("check_checkpoint: --tokens is empty", file=sys.stderr)
        return 2

    import torch
    import transformers
    from transformers import LlamaForCausalLM

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    torch.set_num_threads(1)
    # output_loading_info exposes weights the file lacked or had extra; transformers would
    # otherwise silently random-initialise missing ones and the logits would just differ.
    model, info = LlamaForCausalLM.from_pretrained(
        args.ckpt_dir, dtype=torch.float32, attn_implementation="eager", output_loading_info=True)
    problems = {k: sorted(v) for k, v in info.items() if v and k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    if problems:
        print(f"check_checkpoint: {args.ckpt_dir} did not load cleanly: {problems}", file=sys.stderr)
        return 1
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([tokens]), use_cache=False).logits[0, -1]
    print(json.dumps([float(x) for x in logits.tolist()]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
