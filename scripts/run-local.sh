#!/usr/bin/env bash
# The main job: install what is missing, build in release, and run a local cluster (SFT warm-start, one learner
# and two actor processes on the built-in mnns task, then the evaluation table). Extra arguments go to
# `softrl local` (e.g. --steps 400 --mode fuzzy). Ctrl-C leaves a resumable checkpoint; rerun to continue.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
swift build -c release --product softrl
exec .build/release/softrl local --actors 2 "$@"
