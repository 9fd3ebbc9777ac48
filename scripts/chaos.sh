#!/usr/bin/env bash
# Chaos soak: a learner and 3 actors in network namespaces, trained for a fixed time while a seeded
# schedule kills, stops and cuts off actors, kills and resumes the learner, makes the run directory read-only
# across a checkpoint, and sends hostile peers (garbage frames, a twin of a live actor's id). Audits exactly-once
# training, version continuity, checkpoint integrity and recovery times; records RSS. See scripts/chaos.py.
#
# Usage: scripts/chaos.sh [--duration S] [--seed N] [--actors N] [--spacing S] [--dir DIR]
#   default: 300 s of faults, one every ~12 s; CI runs `--duration 60 --spacing 8`.
# Needs root (network namespaces, chattr +i); otherwise prints why and exits 77.
# SOFTRL_BIN: the softrl binary (default: build the debug one with `swift build --product softrl`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ -z "${SOFTRL_BIN:-}" ]; then
    swift build --product softrl 2>&1 | tail -n 1
    SOFTRL_BIN="$(swift build --show-bin-path)/softrl"
fi
exec /usr/bin/python3 scripts/chaos.py --softrl "$SOFTRL_BIN" "$@"
