#!/usr/bin/env bash
# Reproduces the README's RL table: one SFT base on mnns, then the same RL run (defaults) with hard, soft and
# fuzzy thinking, each evaluated with hard inference on the whole test split. About 6 minutes on 2 cores.
# Usage: bash scripts/compare-modes.sh [OUTDIR]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="${1:-runs/compare}"
B=.build/release/softrl
swift build -c release --product softrl >&2
mkdir -p "$OUT"
[[ -f "$OUT/sft/model.safetensors" ]] || $B sft --task mnns --steps 300 --out "$OUT/sft" --log-every 100
echo "base (SFT):"; $B eval "$OUT/sft" --task mnns --inference hard --samples 32 --threads 1
for mode in hard soft fuzzy; do
    $B train --task mnns --base "$OUT/sft" --out "$OUT/rl-$mode" --mode "$mode" --log-every 40 --threads 1
    echo "after $mode RL:"; $B eval "$OUT/rl-$mode" --task mnns --inference hard --samples 32 --threads 1
done
