#!/usr/bin/env bash
# The mnns grid: training mode (hard, soft, fuzzy; then gumbel, dirichlet, multi as extra rows) x inference mode
# (hard, soft, fuzzy), 3 seeds. Per seed: an SFT base (300 steps, seed S), then one RL run per training mode from
# it (the README's defaults: 200 updates of 4 prompts x 32 samples, lr 1e-4, RLOO, gamma 1.0, seed S), each
# evaluated with every inference mode on the test split. Soft/fuzzy inference samples with the training runs'
# gamma (passed to `softrl eval --noise-scale`), not eval's own default.
#
# RL runs through `softrl train` (actor and learner in one process): on a 2-core machine that is cheaper than
# `softrl local --actors 1` (no second process, no weight broadcast, no CURVE), and synchronous like `local`'s
# default --max-staleness 0, so the update is the same.
#
# Resumable: every checkpoint and every evaluation (JSON, written atomically) is cached under OUT; a rerun skips
# what exists and continues. A killed RL run restarts from its SFT base. Prints the table at the end;
# TABLE_ONLY=1 prints the table of what is there without running anything.
# Usage: bash scripts/mnns-grid.sh [OUT]      knobs: SEEDS="0 1 2" MODES="hard soft fuzzy" EXTRA_MODES="gumbel
#        dirichlet multi" INFERENCES="hard soft fuzzy" SAMPLES=32 PROBLEMS=500 GAMMA=1.0 SOFTRL=path THREADS=1
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT=${1:-runs/mnns-grid}
SOFTRL=${SOFTRL:-.build/release/softrl}
SEEDS=${SEEDS:-0 1 2}
MODES=${MODES:-hard soft fuzzy}
EXTRA_MODES=${EXTRA_MODES:-gumbel dirichlet multi}
INFERENCES=${INFERENCES:-hard soft fuzzy}
SAMPLES=${SAMPLES:-32}
PROBLEMS=${PROBLEMS:-500}
GAMMA=${GAMMA:-1.0}           # the RL default for mnns; used for training and for soft/fuzzy inference
SFT_STEPS=${SFT_STEPS:-300}
THREADS=${THREADS:-1}

table() {
    python3 - "$OUT" "$SEEDS" "$MODES $EXTRA_MODES" "$INFERENCES" <<'EOF'
import json, os, sys, statistics as st
out, seeds, modes, infs = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), sys.argv[4].split()
def load(seed, model, inf):
    p = os.path.join(out, f"seed{seed}", f"eval-{model}-{inf}.json")
    return json.load(open(p)) if os.path.exists(p) else None
# (name, value, its standard error over test problems)
metrics = [("greedy@1", lambda r: (r["greedyPass1"], r.get("greedyPass1SE"))),
           ("pass@1", lambda r: (r["sampledPass1"], (r.get("passAtKSE") or {}).get("1"))),
           ("pass@16", lambda r: (r["passAtK"].get("16"), (r.get("passAtKSE") or {}).get("16"))),
           ("cot", lambda r: (r["meanThinkingLength"], r.get("meanThinkingLengthSE")))]
def cell(pairs, fmt):
    pairs = [p for p in pairs if p is not None and p[0] is not None]
    if not pairs: return "-"
    vals = [v for v, _ in pairs]
    s = fmt % st.mean(vals)
    if len(vals) > 1: s += " ±" + (fmt % st.stdev(vals))
    elif pairs[0][1] is not None: s += " (SE " + (fmt % pairs[0][1]) + ")"   # one seed: only the problems' SE
    return s + ("" if len(vals) == len(seeds) else f" (n={len(vals)})")
problems = samples = None
for inf in infs:
    print(f"\n**{inf} inference** (mean ± standard deviation over seeds {', '.join(seeds)}):\n")
    print("| training | " + " | ".join(m for m, _ in metrics) + " |")
    print("|---" * (len(metrics) + 1) + "|")
    for model in ["sft"] + [f"rl-{m}" for m in modes]:
        reports = [load(s, model, inf) for s in seeds]
        for r in reports:
            if r: problems, samples = r["problems"], r["samples"]
        if not any(reports): continue
        cells = [cell([f(r) if r else None for r in reports], "%.2f" if name == "cot" else "%.3f") for name, f in metrics]
        label = "base (SFT)" if model == "sft" else model[3:] + " RL"
        print(f"| {label} | " + " | ".join(cells) + " |")
print(f"\n({problems} test problems, {samples} samples each; ± is the sample standard deviation over seeds, each seed "
      "its own SFT base and RL run; a cell with one seed shows the standard error over test problems instead; "
      "cot = mean thinking length of sampled rollouts)")
EOF
}

if [[ -n "${TABLE_ONLY:-}" ]]; then table; exit 0; fi
[[ -x "$SOFTRL" ]] || swift build -c release -j 1 --product softrl >&2
mkdir -p "$OUT"

evaluate() {   # $1 = seed, $2 = model name (sft, rl-MODE)
    local dir="$OUT/seed$1/$2" inf
    for inf in $INFERENCES; do
        local result="$OUT/seed$1/eval-$2-$inf.json"
        [[ -f "$result" ]] && continue
        echo "== seed $1: eval $2, $inf inference"
        "$SOFTRL" eval "$dir" --task mnns --inference "$inf" --samples "$SAMPLES" --problems "$PROBLEMS" \
            --noise-scale "$GAMMA" --threads "$THREADS" --json > "$result.tmp"
        mv "$result.tmp" "$result"
    done
}

sft() {   # $1 = seed
    local dir="$OUT/seed$1/sft"
    if [[ ! -f "$dir/model.safetensors" ]]; then
        echo "== seed $1: SFT, $SFT_STEPS steps"
        "$SOFTRL" sft --task mnns --steps "$SFT_STEPS" --seed "$1" --out "$dir.tmp" --log-every 100 --threads "$THREADS"
        rm -rf "$dir"; mv "$dir.tmp" "$dir"
    fi
    evaluate "$1" sft
}

rl() {   # $1 = seed, $2 = training mode
    local dir="$OUT/seed$1/rl-$2"
    if [[ ! -f "$dir/model.safetensors" ]]; then
        echo "== seed $1: $2 RL"
        "$SOFTRL" train --task mnns --base "$OUT/seed$1/sft" --out "$dir.tmp" --mode "$2" --noise-scale "$GAMMA" \
            --seed "$1" --log-every 50 --threads "$THREADS" | tee "$dir.log"
        rm -rf "$dir"; mv "$dir.tmp" "$dir"
    fi
    evaluate "$1" "rl-$2"
}

# Seed by seed, so every row of the main modes has a first seed before any has its third; extra rows last.
for seed in $SEEDS; do
    sft "$seed"
    for mode in $MODES; do rl "$seed" "$mode"; done
done
for seed in $SEEDS; do
    for mode in $EXTRA_MODES; do rl "$seed" "$mode"; done
done
table
