"""Fixture generator: the independent PyTorch/transformers reference for SoftRL's Swift Llama.

What it is: a deterministic script that builds a tiny LlamaForCausalLM with Hugging Face
transformers, saves it in several HF checkpoint flavours, and records logits and gradients
for a soft-token scenario, all under Tests/TransformerLMTests/Fixtures/.
What it is not: used at test time. The Swift tests read the committed files; Python is only
needed to regenerate them (and the generated files are what the Swift code must match).

Regenerate (from the repository root):
    python3 -m venv .venv && .venv/bin/pip install numpy "torch==2.13.0+cpu" transformers safetensors \
        && .venv/bin/python scripts/reference/make_fixtures.py

Writes:
  tiny_llama/          config.json + model.safetensors, fp32, untied lm_head
  tiny_llama_tied/     same weights, tie_word_embeddings=True (no lm_head.weight in the file)
  tiny_llama_bf16/     the untied model stored as bf16
  tiny_llama_fp16/     the untied model stored as fp16
  parity.json          the scenario: token ids, input-vector positions, model directory
  parity.safetensors   fp32 tensors:
     seq{i}.vectors (n_vec, d)  caller-supplied input vectors (replace the token embedding there)
     seq{i}.logits (T, V)       fp32 model, batch of 1, no padding, positions 0..T-1
     seq{i}.dlogits (T, V)      fixed random W_i; the loss is L = sum_i sum(logits_i * W_i)
     seq{i}.grad_vectors        dL/d vectors
     grad.{hf name}             dL/d parameter, summed over both sequences
     bf16.seq1.logits, fp16.seq1.logits   seq1 logits from the bf16/fp16 checkpoints upcast to fp32
     tied.seq1.logits           seq1 logits from the tied model

config.json is written by transformers >= 5, which nests rope_theta as
"rope_parameters": {"rope_theta": ..., "rope_type": "default"}; v4 files have a top-level
"rope_theta" (still accepted by v5), so a loader should read either.
"""

import json
import os
import sys

import torch
import transformers
from safetensors.torch import load_file, save_file
from transformers import LlamaConfig, LlamaForCausalLM

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "Tests", "TransformerLMTests", "Fixtures")

SEQ0_LEN, SEQ0_VECTOR_POSITIONS = 7, [2, 5]
SEQ1_LEN = 5


def tiny_config(tied: bool) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=32, hidden_size=32, intermediate_size=64,
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=64, rms_norm_eps=1e-5, rope_theta=10000.0,
        tie_word_embeddings=tied, attn_implementation="eager", dtype=torch.float32,
    )


def reinit(model: LlamaForCausalLM, gen: torch.Generator) -> None:
    # Default init (std 0.02) gives near-uniform logits that would hide errors; use std 0.2,
    # and norm gains near (not exactly) 1 so a missing norm weight is detectable.
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * noise)
            else:
                p.copy_(0.2 * noise)


def load(path: str) -> LlamaForCausalLM:
    # dtype=float32 upcasts bf16/fp16 checkpoints, exactly what the Swift loader does.
    m = LlamaForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="eager")
    m.eval()
    return m


def embeds_with_vectors(model, tokens, positions, vectors):
    ids = torch.tensor([tokens], dtype=torch.long)
    emb = model.model.embed_tokens(ids).clone()
    if positions:
        # Replacing rows also cuts the embedding gradient at those positions, as in Swift.
        emb[0, positions] = vectors
    return emb


def logits_of(model, tokens, positions=(), vectors=None):
    emb = embeds_with_vectors(model, tokens, list(positions), vectors)
    out = model(inputs_embeds=emb, use_cache=False)
    return out.logits[0]


def main() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)  # single thread: bit-identical regeneration
    gen = torch.Generator().manual_seed(1234)

    model = LlamaForCausalLM(tiny_config(tied=False))
    reinit(model, gen)
    model.eval()

    os.makedirs(OUT, exist_ok=True)
    p_fp32 = os.path.join(OUT, "tiny_llama")
    model.save_pretrained(p_fp32, safe_serialization=True)

    # Tied copy: same weights, lm_head shares the embedding.
    tied = LlamaForCausalLM(tiny_config(tied=True))
    state = {k: v for k, v in model.state_dict().items() if k != "lm_head.weight"}
    missing, unexpected = tied.load_state_dict(state, strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}, (missing, unexpected)
    tied.tie_weights()
    assert tied.lm_head.weight.data_ptr() == tied.model.embed_tokens.weight.data_ptr()
    tied.eval()
    p_tied = os.path.join(OUT, "tiny_llama_tied")
    tied.save_pretrained(p_tied, safe_serialization=True)
    assert "lm_head.weight" not in load_file(os.path.join(p_tied, "model.safetensors"))

    for tag, dt in (("bf16", torch.bfloat16), ("fp16", torch.float16)):
        low = LlamaForCausalLM(tiny_config(tied=False))
        low.load_state_dict(model.state_dict())
        low.to(dt).save_pretrained(os.path.join(OUT, f"tiny_llama_{tag}"), safe_serialization=True)

    # Scenario data. Token ids at vector positions are real ids but ignored by the model.
    V, d = model.config.vocab_size, model.config.hidden_size
    seqs = [
        {"tokens": torch.randint(0, V, (SEQ0_LEN,), generator=gen).tolist(),
         "vector_positions": SEQ0_VECTOR_POSITIONS},
        {"tokens": torch.randint(0, V, (SEQ1_LEN,), generator=gen).tolist(),
         "vector_positions": []},
    ]
    tensors = {}
    model.zero_grad(set_to_none=True)
    for i, s in enumerate(seqs):
        T, pos = len(s["tokens"]), s["vector_positions"]
        vectors = (0.5 * torch.randn((len(pos), d), generator=gen)).requires_grad_(True)
        w = torch.randn((T, V), generator=gen)
        logits = logits_of(model, s["tokens"], pos, vectors)
        (logits * w).sum().backward()  # accumulates parameter grads over sequences
        tensors[f"seq{i}.vectors"] = vectors.detach().clone()
        tensors[f"seq{i}.logits"] = logits.detach().clone()
        tensors[f"seq{i}.dlogits"] = w
        tensors[f"seq{i}.grad_vectors"] = (vectors.grad if vectors.grad is not None
                                           else torch.zeros_like(vectors)).detach().clone()
    for name, p in model.named_parameters():
        tensors[f"grad.{name}"] = p.grad.detach().clone()

    # Consistency of the reference itself: a full-sequence forward equals the token-id path.
    with torch.no_grad():
        via_ids = model(input_ids=torch.tensor([seqs[1]["tokens"]]), use_cache=False).logits[0]
        assert torch.allclose(via_ids, tensors["seq1.logits"], atol=1e-6)

        seq1 = seqs[1]["tokens"]
        tensors["bf16.seq1.logits"] = logits_of(load(os.path.join(OUT, "tiny_llama_bf16")), seq1).clone()
        tensors["fp16.seq1.logits"] = logits_of(load(os.path.join(OUT, "tiny_llama_fp16")), seq1).clone()
        reloaded_tied = load(p_tied)
        tensors["tied.seq1.logits"] = logits_of(reloaded_tied, seq1).clone()
        # The reloaded fp32 checkpoint reproduces the in-memory model.
        assert torch.allclose(logits_of(load(p_fp32), seq1), tensors["seq1.logits"], atol=1e-6)

    tensors = {k: v.to(torch.float32).contiguous() for k, v in tensors.items()}
    save_file(tensors, os.path.join(OUT, "parity.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(OUT, "parity.json"), "w") as f:
        json.dump({
            "sequences": seqs,
            "model": "tiny_llama",
            "generated_with": {"torch": torch.__version__, "transformers": transformers.__version__},
            "loss": "L = sum_i sum(seq{i}.logits * seq{i}.dlogits); grads summed over sequences",
            "notes": "each sequence alone, batch 1, no padding, positions 0..T-1; "
                     "token ids at vector_positions are ignored (embedding replaced by seq{i}.vectors rows in order)",
        }, f, indent=1)
        f.write("\n")

    total = 0
    for dirpath, _, files in os.walk(OUT):
        total += sum(os.path.getsize(os.path.join(dirpath, fn)) for fn in files)
    print(f"fixtures written to {OUT} ({total / 1024:.0f} KiB); {len(tensors)} parity tensors", file=sys.stderr)


if __name__ == "__main__":
    main()
