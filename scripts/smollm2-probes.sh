#!/usr/bin/env bash
# Small, cheap probes towards a SmolLM2-135M-Instruct recipe on `words`: each probe is one SFT or one short RL run
# (`softrl train`, actor and learner in one process: the cheapest on a small machine) from a cached start, then a
# quick evaluation (EVAL_PROBLEMS test problems, greedy plus EVAL_SAMPLES samples, hard inference). Every probe,
# failed or not, is appended to OUT/probes.jsonl with its settings, its training rewards, the evaluation with
# standard errors and its wall time; the table of all probes is printed at the end.
# Usage: bash scripts/smollm2-probes.sh sft NAME LEVEL STEPS LR [BASE]
#        bash scripts/smollm2-probes.sh rl NAME LEVEL BASE MODE STEPS PROMPTS GROUP LR [GAMMA]
#        bash scripts/smollm2-probes.sh eval NAME LEVEL CHECKPOINT     (evaluate an existing checkpoint)
#        bash scripts/smollm2-probes.sh table
# BASE / CHECKPOINT: "pretrained", a probe NAME, or a directory. Knobs: OUT, M, SOFTRL, EVAL_PROBLEMS=100,
# EVAL_SAMPLES=4, EVAL_INFERENCE=hard (the evaluation's thinking: hard, soft or fuzzy), WORD_COUNT=3000, SEED=0 (the
# RL run's seed: prompt order and sampling), RL_CONFIG (a --config JSON file for the RL run, e.g.
# {"loss": {"continuousStepWeight": 0.1}}; its contents go into the settings column). Paired comparisons of the
# evaluations: scripts/eval-table.py.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
M=${M:-models/SmolLM2-135M-Instruct}
OUT=${OUT:-runs/smollm2-probes}
SOFTRL=${SOFTRL:-.build/release/softrl}
EVAL_PROBLEMS=${EVAL_PROBLEMS:-100}
EVAL_SAMPLES=${EVAL_SAMPLES:-4}
EVAL_INFERENCE=${EVAL_INFERENCE:-hard}
WORD_COUNT=${WORD_COUNT:-3000}
SEED=${SEED:-0}
RL_CONFIG=${RL_CONFIG:-}
mkdir -p "$OUT"

table() {
    python3 - "$OUT/probes.jsonl" <<'EOF'
import json, os, sys
path = sys.argv[1]
if not os.path.exists(path): print("no probes yet"); sys.exit(0)
print("| probe | kind | start | settings | training (SFT loss first -> last; RL reward per update) | eval level | greedy pass@1 | sampled pass@1 | pass@k | thinking | wall s | outcome |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
out_dir = os.path.dirname(os.path.abspath(path))
def shown(start):   # a checkpoint directory by its name under OUT (or beside it), not by this machine's path
    if not os.path.isabs(start): return start
    for root in (out_dir, os.path.dirname(out_dir)):
        if start.startswith(root + os.sep): return os.path.relpath(start, root)
    return os.path.basename(start.rstrip(os.sep))
for line in open(path):
    p = json.loads(line)
    e = p.get("eval") or {}
    se = e.get("passAtKSE") or {}
    def pm(v, s, fmt="%.3f"): return "-" if v is None else (fmt % v) + ("" if s is None else " ± " + (fmt % s))
    kmax = max((int(k) for k in e.get("passAtK", {})), default=None)
    print("| " + " | ".join([p["name"], p["kind"], shown(p.get("start", "")), p.get("settings", ""), p.get("rewards", ""), str(p.get("level", "")),
          pm(e.get("greedyPass1"), e.get("greedyPass1SE")), pm(e.get("sampledPass1"), se.get("1")),
          (f"@{kmax} " + pm(e["passAtK"][str(kmax)], se.get(str(kmax)))) if kmax else "-",
          pm(e.get("greedyThinkingLength"), None, "%.1f"), "%.0f" % p.get("seconds", 0), p.get("outcome", "")]) + " |")
EOF
}

resolve() {   # a start name -> directory
    case "$1" in
        pretrained) echo "$M" ;;
        /*|./*|runs/*|models/*) echo "$1" ;;
        *) echo "$OUT/$1" ;;
    esac
}

record() {   # $1 = name, $2 = kind, $3 = start, $4 = settings, $5 = rewards, $6 = level, $7 = eval json file or "", $8 = seconds, $9 = outcome
    python3 - "$OUT/probes.jsonl" "$@" <<'EOF'
import json, sys
path, name, kind, start, settings, rewards, level, evalfile, seconds, outcome = sys.argv[1:]
e = json.load(open(evalfile)) if evalfile else None
if e: e.pop("correctPerProblem", None)
with open(path, "a") as f:
    f.write(json.dumps({"name": name, "kind": kind, "start": start, "settings": settings, "rewards": rewards, "level": int(level),
                        "eval": e, "seconds": float(seconds), "outcome": outcome}) + "\n")
EOF
}

evaluate() {   # $1 = checkpoint dir, $2 = level, $3 = output json
    "$SOFTRL" eval "$1" --task words --tokenizer "$M" --word-level "$2" --word-count "$WORD_COUNT" --inference "$EVAL_INFERENCE" \
        --samples "$EVAL_SAMPLES" --problems "$EVAL_PROBLEMS" --batch-prompts 6 --threads 1 --json > "$3.tmp" && mv "$3.tmp" "$3"
}

kind=${1:-table}
case "$kind" in
table) table; exit 0 ;;
sft)
    name=$2 level=$3 steps=$4 lr=$5 base=${6:-pretrained}
    start=$(date +%s)
    outcome=ok
    "$SOFTRL" sft --task words --tokenizer "$M" --word-level "$level" --word-count "$WORD_COUNT" --base "$(resolve "$base")" \
        --out "$OUT/$name" --steps "$steps" --batch-size 4 --lr "$lr" --log-every 5 --threads 1 2>&1 | tee "$OUT/$name.log" || outcome="sft failed"
    loss=$(grep -o 'loss [0-9.]*' "$OUT/$name.log" | sed -n '1p;$p' | awk '{print $2}' | paste -sd' ' | sed 's/ / -> /')
    [[ "$outcome" == ok ]] && { evaluate "$OUT/$name" "$level" "$OUT/$name.eval.json" || outcome="eval failed"; }
    record "$name" sft "$base" "level $level, $steps steps x 4, lr $lr" "loss $loss" "$level" "$([[ -f $OUT/$name.eval.json ]] && echo "$OUT/$name.eval.json")" "$(( $(date +%s) - start ))" "$outcome"
    ;;
rl)
    name=$2 level=$3 base=$4 mode=$5 steps=$6 prompts=$7 group=$8 lr=$9 gamma=${10:-0.33}
    start=$(date +%s)
    outcome=ok
    "$SOFTRL" train --task words --tokenizer "$M" --word-level "$level" --word-count "$WORD_COUNT" --base "$(resolve "$base")" \
        --out "$OUT/$name" --mode "$mode" --steps "$steps" --prompts "$prompts" --group-size "$group" --lr "$lr" \
        --noise-scale "$gamma" --seed "$SEED" ${RL_CONFIG:+--config "$RL_CONFIG"} --threads 1 2>&1 \
        | tee "$OUT/$name.log" || outcome="train failed"
    rewards=$(grep -o 'reward [0-9.]*' "$OUT/$name.log" | awk '{print $2}' | paste -sd' ')
    [[ "$outcome" == ok ]] && { evaluate "$OUT/$name" "$level" "$OUT/$name.eval.json" || outcome="eval failed"; }
    record "$name" rl "$base" "$mode, level $level, $steps x $prompts prompts x $group, lr $lr, gamma $gamma, seed $SEED${RL_CONFIG:+, $(tr -d '\n' < "$RL_CONFIG")}" "$rewards" "$level" "$([[ -f $OUT/$name.eval.json ]] && echo "$OUT/$name.eval.json")" "$(( $(date +%s) - start ))" "$outcome"
    ;;
eval)
    name=$2 level=$3 ckpt=$4
    start=$(date +%s)
    outcome=ok
    evaluate "$(resolve "$ckpt")" "$level" "$OUT/$name.eval.json" || outcome="eval failed"
    record "$name" eval "$ckpt" "" "" "$level" "$([[ -f $OUT/$name.eval.json ]] && echo "$OUT/$name.eval.json")" "$(( $(date +%s) - start ))" "$outcome"
    ;;
*) echo "unknown probe kind '$kind': use sft, rl, eval or table" >&2; exit 2 ;;
esac
table
