"""PyTorch baseline for `softrl bench model`: the same Llama presets measured with transformers.

What it is: a CPU, fp32, eager-attention timing of (1) training throughput — forward, backward and
an AdamW step on B x T random tokens — and (2) greedy KV-cache decoding via `generate` at several
batch sizes. Presets match the Swift ones exactly, so tokens/s figures are directly comparable.
What it is not: a correctness check (see make_fixtures.py) or a tuned PyTorch setup (no compile,
no SDPA): it is the plain reference the Swift numbers are read against. With --bf16 it also times
PyTorch's own bf16 CPU path for inference (`torch.autocast("cpu", dtype=torch.bfloat16)`: bf16 matrix products,
fp32 elsewhere) for the same decode batches and a prefill, beside the fp32 figures.

Usage:  .venv/bin/python scripts/reference/bench_torch.py --preset tiny --threads 1 --json
Without torch/transformers it prints a "skipped" note and exits 0, so callers need not special-case it.
"""

import argparse
import json
import statistics
import sys
import time

PRESETS = {
    # Must stay identical to the Swift presets used by `softrl bench model`.
    "tiny": dict(vocab_size=64, hidden_size=128, intermediate_size=512, num_hidden_layers=4,
                 num_attention_heads=4, num_key_value_heads=2),
    "small": dict(vocab_size=64, hidden_size=256, intermediate_size=1024, num_hidden_layers=10,
                  num_attention_heads=8, num_key_value_heads=4),
    # Shaped like SmolLM2-135M (random weights): tied embeddings, RoPE theta 1e5.
    "smollm2": dict(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                    num_attention_heads=9, num_key_value_heads=3, tie_word_embeddings=True, rope_theta=100000.0),
}
COMMON = dict(max_position_embeddings=512, rope_theta=10000.0, rms_norm_eps=1e-5, tie_word_embeddings=False)
INSTALL_HINT = "python3 -m venv .venv && .venv/bin/pip install 'torch==2.13.0+cpu' transformers"


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10, help="timed training steps")
    ap.add_argument("--warmup", type=int, default=2, help="untimed training steps / generate calls first")
    ap.add_argument("--decode-batches", default="1,8,32")
    ap.add_argument("--decode-tokens", type=int, default=64)
    ap.add_argument("--prompt", type=int, default=8, help="prompt length for decode")
    ap.add_argument("--decode-repeats", type=int, default=3, help="timed generate calls per batch size; median reported")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bf16", action="store_true", help="also time decode and prefill under torch.autocast(cpu, bfloat16)")
    ap.add_argument("--prefill-batch", type=int, default=8, help="prompts per prefill measurement")
    ap.add_argument("--prefill-len", type=int, default=64, help="tokens per prompt in the prefill measurement")
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    return ap.parse_args()


def main() -> int:
    args = parse_args()
    try:
        import torch
        import transformers
        from transformers import LlamaConfig, LlamaForCausalLM
    except Exception as e:  # ImportError, or a broken install that fails on import
        msg = f"torch/transformers not installed: {INSTALL_HINT}"
        if args.json:
            print(json.dumps({"skipped": msg}))
        else:
            print(f"bench_torch: skipped — {msg} ({type(e).__name__}: {e})")
        return 0

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    cfg = LlamaConfig(**{**COMMON, **PRESETS[args.preset]}, attn_implementation="eager", dtype=torch.float32)
    model = LlamaForCausalLM(cfg).to(torch.float32)
    total = sum(p.numel() for p in model.parameters())
    embed = model.model.embed_tokens.weight.numel()
    if model.lm_head.weight.data_ptr() != model.model.embed_tokens.weight.data_ptr():
        embed += model.lm_head.weight.numel()

    # --- training: forward + backward + AdamW step -------------------------------------------
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    ids = torch.randint(0, cfg.vocab_size, (args.batch, args.seq))

    def train_step():
        opt.zero_grad(set_to_none=True)
        loss = model(input_ids=ids, labels=ids, use_cache=False).loss
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(args.warmup):
        train_step()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(args.steps):
        train_step()
    train_s = time.perf_counter() - t0
    train_cpu_s = time.process_time() - c0  # CPU time of the process: not counting time spent descheduled
    train_tps = args.batch * args.seq * args.steps / train_s

    # --- decoding: greedy generate with KV cache ----------------------------------------------
    model.eval()
    n_new = args.decode_tokens
    batches = [int(x) for x in args.decode_batches.split(",") if x.strip()]

    def measure_decode(autocast):
        rows = []
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            for b in batches:
                prompt = torch.randint(0, cfg.vocab_size, (b, args.prompt))
                gen_kwargs = dict(do_sample=False, use_cache=True, max_new_tokens=n_new,
                                  min_new_tokens=n_new, pad_token_id=0,
                                  attention_mask=torch.ones_like(prompt))
                for _ in range(max(1, args.warmup // 2)):
                    model.generate(prompt, **{**gen_kwargs, "max_new_tokens": 4, "min_new_tokens": 4})
                times, cpu_times = [], []
                for _ in range(max(1, args.decode_repeats)):
                    t0, c0 = time.perf_counter(), time.process_time()
                    out = model.generate(prompt, **gen_kwargs)
                    times.append(time.perf_counter() - t0)
                    cpu_times.append(time.process_time() - c0)
                    assert out.shape[1] - args.prompt == n_new, "generate stopped early"
                dt = statistics.median(times)  # one call is short; the median damps scheduler noise
                generated = n_new * b  # count only new tokens (prefill of the prompt is inside the time)
                rows.append({"batch": b, "new_tokens": n_new, "repeats": len(times), "seconds": round(dt, 4),
                             "cpu_seconds": round(statistics.median(cpu_times), 4),
                             "tokens_per_s": round(generated / dt, 1)})
        return rows

    def measure_prefill(autocast):
        """One forward over prefill-batch prompts of prefill-len tokens with the cache on and logits at the last position
        only (what generate's first call does, and what SoftRL's prefill computes)."""
        ids = torch.randint(0, cfg.vocab_size, (args.prefill_batch, args.prefill_len))
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            model(input_ids=ids, use_cache=True, logits_to_keep=1)
            times = []
            for _ in range(max(1, args.decode_repeats)):
                t0 = time.perf_counter()
                model(input_ids=ids, use_cache=True, logits_to_keep=1)
                times.append(time.perf_counter() - t0)
        dt = statistics.median(times)
        return {"batch": args.prefill_batch, "prompt": args.prefill_len, "seconds": round(dt, 4),
                "tokens_per_s": round(args.prefill_batch * args.prefill_len / dt, 1)}

    decode = measure_decode(False)
    extra = {}
    if args.bf16:
        extra = {"prefill": measure_prefill(False), "decode_bf16": measure_decode(True), "prefill_bf16": measure_prefill(True)}

    result = {
        "framework": "pytorch",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "preset": args.preset,
        "threads": args.threads,
        "config": {**COMMON, **PRESETS[args.preset]},
        "params": {"total": total, "embedding_and_lm_head": embed, "non_embedding": total - embed},
        "train": {"batch": args.batch, "seq": args.seq, "steps": args.steps, "warmup": args.warmup,
                  "seconds": round(train_s, 4), "cpu_seconds": round(train_cpu_s, 4),
                  "step_ms": round(1000 * train_s / args.steps, 2),
                  "tokens_per_s": round(train_tps, 1)},
        "decode": decode,
        **extra,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"pytorch {torch.__version__} / transformers {transformers.__version__}, "
              f"preset {args.preset}, {args.threads} thread(s)")
        print(f"params: {total:,} total, {total - embed:,} non-embedding")
        print(f"train  B={args.batch} T={args.seq}: {train_tps:,.0f} tokens/s "
              f"({1000 * train_s / args.steps:.1f} ms/step, {args.steps} steps after {args.warmup} warm-up)")
        for d in decode:
            print(f"decode batch {d['batch']:>3}: {d['tokens_per_s']:,.0f} tokens/s "
                  f"({d['new_tokens']} new tokens, prompt {args.prompt})")
        for d in extra.get("decode_bf16", []):
            print(f"decode batch {d['batch']:>3} (bf16 autocast): {d['tokens_per_s']:,.0f} tokens/s")
        for key in ("prefill", "prefill_bf16"):
            if key in extra:
                p = extra[key]
                print(f"{key} {p['batch']} x {p['prompt']}: {p['tokens_per_s']:,.0f} tokens/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
