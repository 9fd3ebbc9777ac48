"""Independent check of SoftRL rollout files: recompute every recorded log-probability with PyTorch + transformers.

What it is: a second implementation, sharing no code with the Swift side, of the behaviour log-probabilities a
`softrl rollouts` file records. For each rollout it teacher-forces
    prompt + [step inputs] + [3 (<eot>) unless thinkingEnd == "sampled"] + answer[:-1]
through `LlamaForCausalLM` (fp32, eager attention) as `inputs_embeds` (embedding rows at token positions, the
recorded vectors verbatim at -1 positions), then post-processes the fp32 logits in float64:
  * hard:  log softmax(l / hardTemperature)[token]
  * soft / fuzzy: p = softmax(l / tau), mu = p @ E, logProb = -||x - mu||^2 / (2 noiseSigma^2)
  * multi: sum over the recorded tokens of log p (p at hardTemperature)
  * gumbel / dirichlet: the Concrete / Dirichlet log-density of the recorded log-weights (same formulas as
    Sources/SoftTokens/StepDensity.swift; support must match the recomputed truncation set)
  * answer tokens: log softmax(l)[token] at temperature 1 over the full vocabulary.
top-k / top-p / min-p truncation (absent = none) is applied to p before renormalising, as the sampler does.
Step t's logits are at position len(prompt) - 1 + t; answer token j's at
len(prompt) + len(steps) + (0 if sampled else 1) - 1 + j.

Reports: max |recomputed - recorded| over discrete actions (hard / multi steps and answer tokens), max relative
error |d| / max(1, |recorded|) over continuous densities (soft / fuzzy / gumbel / dirichlet), per mode as well,
the number of actions checked and the number of steps whose recorded greedy shadow differs from our argmax.
What it is not: a check of the sampling itself (that x was drawn from the stated distribution) or of rewards.

Usage:  .venv/bin/python scripts/reference/recompute_rollouts.py CKPT_DIR FILE.jsonl [FILE2.jsonl ...] [--json]
Exit status: 0 when it ran (the caller judges the errors), 1 when torch/transformers are missing or the
checkpoint does not load cleanly, 2 on a malformed rollout file.
"""

import argparse
import json
import math
import sys

EOT = 3  # <eot>: fed after the thinking steps unless the chain ended by sampling it


def truncated(p, sampler):
    """Support (ascending ids) and renormalised probs after top-k / top-p / min-p, like StepDistribution."""
    import torch
    top_k, top_p, min_p = sampler.get("topK"), sampler.get("topP"), sampler.get("minP")
    V = p.shape[0]
    if top_k is None and top_p is None and min_p is None:
        return torch.arange(V), p
    # Descending prob, ties by ascending id (the Swift sort order).
    order = sorted(range(V), key=lambda i: (-p[i].item(), i))
    keep = []
    p_max = p[order[0]].item()
    cum = 0.0
    for rank, i in enumerate(order):
        if top_k is not None and rank >= top_k:
            break
        if min_p is not None and p[i].item() < min_p * p_max and rank > 0:
            break
        keep.append(i)
        cum += p[i].item()
        if top_p is not None and cum >= top_p:
            break
    keep.sort()
    idx = torch.tensor(keep, dtype=torch.long)
    q = p[idx]
    return idx, q / q.sum()


def step_distribution(logits64, temperature, sampler):
    import torch
    z = logits64 / temperature
    p = torch.softmax(z - z.max(), dim=-1)
    return truncated(p, sampler)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("ckpt_dir")
    ap.add_argument("files", nargs="+", help="rollout JSONL files written by `softrl rollouts`")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    try:
        import torch
        import transformers
        from transformers import LlamaForCausalLM
    except ImportError as e:
        print(f"recompute_rollouts: needs torch and transformers ({e}); "
              "use a venv with both, e.g. .venv/bin/python", file=sys.stderr)
        return 1

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    torch.set_num_threads(args.threads)
    try:
        model, info = LlamaForCausalLM.from_pretrained(
            args.ckpt_dir, dtype=torch.float32, attn_implementation="eager", output_loading_info=True)
    except TypeError:  # older transformers: torch_dtype
        model, info = LlamaForCausalLM.from_pretrained(
            args.ckpt_dir, torch_dtype=torch.float32, attn_implementation="eager", output_loading_info=True)
    problems = {k: sorted(v) for k, v in info.items() if v and k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    if problems:
        print(f"recompute_rollouts: {args.ckpt_dir} did not load cleanly: {problems}", file=sys.stderr)
        return 1
    model.eval()
    emb = model.model.embed_tokens.weight.detach()          # (V, d) fp32, fed as is
    E64 = emb.to(torch.float64)                               # for mu in float64
    V, d = emb.shape

    discrete_err = {}    # mode -> max |d| (hard / multi steps, "answer")
    density_rel = {}     # mode -> max relative error (soft / fuzzy / gumbel / dirichlet)
    counts = {}          # mode -> actions checked
    worst = None         # (rel-or-abs, description) of the worst action overall
    shadow_mismatch = 0
    rollouts = 0
    infinite = 0         # recorded finite but recomputed -inf (support changed) or vice versa

    def note(kind, mode, recorded, recomputed, where):
        nonlocal worst, infinite
        counts[mode] = counts.get(mode, 0) + 1
        if not (math.isfinite(recorded) and math.isfinite(recomputed)):
            if recorded != recomputed:
                infinite += 1
                err = math.inf
            else:
                err = 0.0
        elif kind == "abs":
            err = abs(recomputed - recorded)
        else:
            err = abs(recomputed - recorded) / max(1.0, abs(recorded))
        table = discrete_err if kind == "abs" else density_rel
        table[mode] = max(table.get(mode, 0.0), err)
        if worst is None or err > worst[0]:
            worst = (err, f"{where}: recorded {recorded!r}, recomputed {recomputed!r} ({kind})")

    for path in args.files:
        with open(path) as f:
            lines = [ln for ln in f if ln.strip()]
        for ln_no, line in enumerate(lines, 1):
            try:
                r = json.loads(line)
                prompt, steps, answer = r["prompt"], r["steps"], r["answer"]
                sampler, sigma, end = r["sampler"], float(r.get("noiseSigma", 0)), r["thinkingEnd"]
                mode = sampler["mode"]
            except (KeyError, ValueError) as e:
                print(f"recompute_rollouts: {path}:{ln_no}: malformed rollout ({e})", file=sys.stderr)
                return 2
            rollouts += 1
            # Inputs, in order: prompt tokens, step inputs, <eot> (unless sampled), answer[:-1].
            rows = [emb[t] for t in prompt]
            for s in steps:
                if s["token"] == -1:
                    v = torch.tensor(s["vector"], dtype=torch.float32)
                    if v.shape != (d,):
                        print(f"recompute_rollouts: {path}:{ln_no}: vector of {v.shape[0]} floats, model d = {d}",
                              file=sys.stderr)
                        return 2
                    rows.append(v)
                else:
                    rows.append(emb[s["token"]])
            if end != "sampled":
                rows.append(emb[EOT])
            rows.extend(emb[t] for t in answer[:-1])
            x = torch.stack(rows).unsqueeze(0)
            with torch.no_grad():
                logits = model(inputs_embeds=x, use_cache=False).logits[0]   # (T, V) fp32
            L = logits.to(torch.float64)
            P = len(prompt)

            for t, s in enumerate(steps):
                l = L[P - 1 + t]
                where = f"{path}:{ln_no} step {t} ({mode})"
                if int(torch.argmax(logits[P - 1 + t])) != s["shadow"]:
                    shadow_mismatch += 1
                rec = float(s["logProb"])
                if mode == "hard":
                    sup, p = step_distribution(l, sampler["hardTemperature"], sampler)
                    hit = (sup == s["token"]).nonzero()
                    got = math.log(p[hit[0, 0]].item()) if len(hit) else -math.inf
                    note("abs", mode, rec, got, where)
                elif mode in ("soft", "fuzzy"):
                    tau = sampler["softTemperature"] if mode == "soft" else sampler["fuzzyTemperature"]
                    if sigma <= 0:      # greedy variant: no density recorded (0)
                        note("rel", mode, rec, 0.0, where)
                        continue
                    sup, p = step_distribution(l, tau, sampler)
                    mu = p @ E64[sup]
                    xv = torch.tensor(s["vector"], dtype=torch.float64)
                    got = -float(((xv - mu) ** 2).sum()) / (2 * sigma * sigma)
                    note("rel", mode, rec, got, where)
                elif mode == "multi":
                    sup, p = step_distribution(l, sampler["hardTemperature"], sampler)
                    pos = {int(tok): i for i, tok in enumerate(sup.tolist())}
                    got = 0.0
                    for tok in s["tokens"]:
                        got = got + (math.log(p[pos[tok]].item()) if tok in pos else -math.inf)
                    note("abs", mode, rec, got, where)
                elif mode in ("gumbel", "dirichlet"):
                    sup, p = step_distribution(l, sampler["hardTemperature"], sampler)
                    if sup.tolist() != s["support"] or len(s["logWeights"]) != len(s["support"]):
                        note("rel", mode, rec, -math.inf, where)
                        continue
                    logw = [float(w) for w in s["logWeights"]]
                    probs = p.tolist()
                    n = len(logw)
                    if mode == "gumbel":
                        tau = sampler["gumbelTemperature"]
                        got = math.lgamma(n) + (n - 1) * math.log(tau)
                        a = []
                        for pi, lw in zip(probs, logw):
                            got += math.log(pi) - (tau + 1) * lw
                            a.append(math.log(pi) - tau * lw)
                        mx = max(a)
                        got -= n * (mx + math.log(sum(math.exp(v - mx) for v in a)))
                    else:
                        g, floor = sampler["dirichletConcentration"], sampler["dirichletMinAlpha"]
                        alpha = [max(g * pi, floor) for pi in probs]
                        got = math.lgamma(sum(alpha))
                        for al, lw in zip(alpha, logw):
                            got += (al - 1) * lw - math.lgamma(al)
                    note("rel", mode, rec, got, where)
                else:
                    print(f"recompute_rollouts: {path}:{ln_no}: unknown mode {mode!r}", file=sys.stderr)
                    return 2

            first = P + len(steps) + (0 if end == "sampled" else 1) - 1
            recorded = r.get("answerLogProbs", [])
            if len(recorded) != len(answer):
                print(f"recompute_rollouts: {path}:{ln_no}: {len(answer)} answer tokens, "
                      f"{len(recorded)} answerLogProbs", file=sys.stderr)
                return 2
            for j, tok in enumerate(answer):
                lp = torch.log_softmax(L[first + j], dim=-1)[tok].item()
                note("abs", "answer", float(recorded[j]), lp, f"{path}:{ln_no} answer {j}")

    result = {
        "rollouts": rollouts,
        "actions": sum(counts.values()),
        "actionsByMode": counts,
        "maxAbsErrorDiscrete": max(discrete_err.values(), default=0.0),
        "maxRelErrorDensity": max(density_rel.values(), default=0.0),
        "maxAbsErrorByMode": discrete_err,
        "maxRelErrorByMode": density_rel,
        "shadowMismatches": shadow_mismatch,
        "infiniteMismatches": infinite,
        "worst": worst[1] if worst else None,
    }
    if args.json:
        # inf is not JSON: report non-finite errors as the string "inf" so a caller's numeric parse fails loudly.
        def finite(v):
            if isinstance(v, dict):
                return {k: finite(x) for k, x in v.items()}
            return "inf" if isinstance(v, float) and not math.isfinite(v) else v
        print(json.dumps(finite(result), sort_keys=True))
    else:
        print(f"{rollouts} rollouts, {result['actions']} actions {counts}")
        for m, e in sorted(discrete_err.items()):
            print(f"  {m:9s} max |recomputed - recorded| = {e:.3e}")
        for m, e in sorted(density_rel.items()):
            print(f"  {m:9s} max relative error      = {e:.3e}")
        print(f"  shadow (argmax) mismatches: {shadow_mismatch}; support/inf mismatches: {infinite}")
        if worst:
            print(f"  worst: {worst[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
