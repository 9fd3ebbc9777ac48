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
rate=10gbit
while [ $# -gt 0 ]; do
    case "$1" in
        --rate) rate="$2"; shift 2 ;;
        --) shift; break ;;
        *) echo "bench-link.sh: unknown argument '$1' (use --rate RATE [-- bench args])" >&2; exit 2 ;;
    esac
done
[ $# -gt 0 ] || set -- --sizes 40,400 --receivers 1,4
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null || ! command -v tc >/dev/null; then
    echo "SKIP bench-link: needs root and iproute2 (ip, tc) for a shaped network namespace"; exit 77
fi
if [ -z "${SOFTRL_BIN:-}" ]; then
    swift build -c release --product softrl 2>&1 | tail -n 1
    SOFTRL_BIN="$(swift build -c release --show-bin-path)/softrl"
fi
ns="softrl-link-$$"
ip netns add "$ns"
trap 'ip netns delete "$ns" 2>/dev/null || true' EXIT
ip netns exec "$ns" ip link set lo up
# Token bucket: RATE sustained, 1 MB burst (above lo's 64 KiB segments), packets queue at most 5 ms.
ip netns exec "$ns" tc qdisc add dev lo root tbf rate "$rate" burst 1mb latency 5ms
echo "link: loopback of network namespace $ns shaped by tc: $(ip netns exec "$ns" tc qdisc show dev lo)"
ip netns exec "$ns" "$SOFTRL_BIN" bench cluster --only delivery "$@"
