#!/usr/bin/env bash
# Weight delivery over a link slower than loopback: runs `softrl bench cluster --only delivery` in a
# network namespace of its own whose loopback is shaped by tc's token bucket to RATE, so the learner, the
# receivers and the raw ZeroMQ reference all cross the same link. Plain loopback on 2 cores moves bytes as fast
# as a core hashes them, so there a receiver that checks SHA-256 cannot keep up with raw; a datacenter link
# (10 Gbit/s) is slower than the hash, and this shows what a receiver reaches when the link is the limit.
#
# Usage: scripts/bench-link.sh [--rate 10gbit] [-- extra bench cluster args]   (default: --sizes 40,400 --receivers 1,4)
# Needs root (ip netns, tc); otherwise prints why and exits 77. SOFTRL_BIN: the softrl binary (default: release build).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/shaped-link.sh
shaped_link_setup bench-link --sizes 40,400 --receivers 1,4 -- "$@"
ns="softrl-link-$$"
ip netns add "$ns"
trap 'ip netns delete "$ns" 2>/dev/null || true' EXIT
ip netns exec "$ns" ip link set lo up
shape_device "$ns" lo
echo "link: loopback of network namespace $ns shaped by tc: $(ip netns exec "$ns" tc qdisc show dev lo)"
ip netns exec "$ns" "$SOFTRL_BIN" bench cluster --only delivery "${bench_args[@]}"
