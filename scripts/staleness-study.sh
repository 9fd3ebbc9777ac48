#!/usr/bin/env bash
# Synchronous (max staleness 0) vs pipelined (1) on the cluster, 3 seeds each, from one SFT base on mnns:
# updates per second, training-reward trend and the eval table of every run.
# About 1-2 minutes per run on 2 cores (release build). Usage: bash scripts/staleness-study.sh [OUTDIR] [STEPS]
# Ablations: STALENESS="1" EXTRA_FLAGS="--lr 5e-5" (or "--loss clipped") bash scripts/staleness-study.sh runs/ablate 200
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="${1:-runs/staleness}"
STEPS="${2:-200}"
B=.build/release/softrl
swift build -c release --product softrl >&2
mkdir -p "$OUT"
[[ -f "$OUT/sft/model.safetensors" ]] || $B sft --task mnns --steps 300 --out "$OUT/sft" --log-every 100
for s in ${STALENESS:-0 1}; do
    for seed in 1 2 3; do
        run="$OUT/s$s-seed$seed"
        start=$(date +%s.%N)
        $B local --actors 2 --base "$OUT/sft" --run-dir "$run" --fresh --steps "$STEPS" --seed "$seed" \
            --max-staleness "$s" --eval-problems 500 --eval-samples 32 ${EXTRA_FLAGS:-} > "$run.log" 2>&1
        end=$(date +%s.%N)
        # updates/s over the RL part only: metrics.jsonl timestamps of the first and last update.
        python3 - "$run" "$s" "$seed" "$start" "$end" <<'PY'
import json, sys, datetime
run, s, seed = sys.argv[1], sys.argv[2], sys.argv[3]
rows = [json.loads(l) for l in open(f"{run}/cluster/metrics.jsonl")]
t = [datetime.datetime.fromisoformat(r["time"].replace("Z", "+00:00")) for r in rows]
ups = (len(rows) - 1) / max((t[-1] - t[0]).total_seconds(), 1e-9)
k = max(5, len(rows) // 10)
r0 = sum(r["rewardMean"] for r in rows[:k]) / k; r1 = sum(r["rewardMean"] for r in rows[-k:]) / k
stale = rows[-1]["droppedStale"]; wait = sum(r["learnerWaitShare"] for r in rows) / len(rows)
print(f"staleness {s} seed {seed}: {ups:.2f} updates/s, wait {wait:.0%}, droppedStale {stale}, reward {r0:.3f} -> {r1:.3f}")
PY
        grep -E "^(model / inference|base \(SFT\)|after RL)" "$run.log" | sed "s/^/    /" || true
    done
done
