#!/usr/bin/env bash
# The learner ranks' gradient sum over a link slower than loopback: two network namespaces joined by a veth pair
# whose ends are shaped by tc's token bucket to RATE, each a "host" of the MPI job (mpirun runs in the first and
# starts a daemon in each through an rsh agent that enters the namespace instead of ssh-ing), one rank per host,
# MPI restricted to TCP on that link, running `softrl bench allreduce`. For comparison the same bench first runs
# through shared memory (MPI's default on one host) and over this host's loopback (TCP).
#
# Usage: scripts/bench-mpi-link.sh [--rate 10gbit] [-- extra bench allreduce args]   (default: --preset smollm2)
# Needs root (ip netns, tc) and mpirun; otherwise prints why and exits 77. SOFTRL_BIN: the softrl binary (default:
# release build).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v mpirun >/dev/null || { echo "SKIP bench-mpi-link: mpirun not found (apt-get install openmpi-bin libopenmpi-dev)"; exit 77; }
source scripts/shaped-link.sh
shaped_link_setup bench-mpi-link --preset smollm2 -- "$@"
# Root may run ranks; two ranks on a machine with fewer free cores are fine; ob1 over the BTLs named below only.
MPIRUN=(mpirun --allow-run-as-root --oversubscribe --mca pml ob1)
export OPENBLAS_NUM_THREADS=1

echo "== shared memory (MPI's default between ranks on one host)"
"${MPIRUN[@]}" -np 2 "$SOFTRL_BIN" bench allreduce "${bench_args[@]}"
echo "== TCP over loopback"
"${MPIRUN[@]}" --mca btl tcp,self --mca btl_tcp_if_include lo -np 2 "$SOFTRL_BIN" bench allreduce "${bench_args[@]}"

a="softrl-mpi-a-$$" b="softrl-mpi-b-$$"
subnet="10.251.$(( RANDOM % 250 + 1 ))"
ip netns add "$a"; ip netns add "$b"
trap 'ip netns delete "$a" 2>/dev/null || true; ip netns delete "$b" 2>/dev/null || true' EXIT
ip -n "$a" link set lo up; ip -n "$b" link set lo up
ip -n "$a" link add eth0 type veth peer name eth0 netns "$b"
ip -n "$a" addr add "$subnet.1/24" dev eth0; ip -n "$b" addr add "$subnet.2/24" dev eth0
ip -n "$a" link set eth0 up; ip -n "$b" link set eth0 up
for ns in "$a" "$b"; do shape_device "$ns" eth0; done  # both ends
# mpirun's launcher calls "AGENT HOST COMMAND..." where it would call ssh; here a host is a namespace.
agent="$(mktemp)"
trap 'ip netns delete "$a" 2>/dev/null || true; ip netns delete "$b" 2>/dev/null || true; rm -f "$agent"' EXIT
printf '#!/bin/sh\nhost="$1"; shift\nexec ip netns exec "$host" /bin/sh -c "$*"\n' > "$agent"; chmod +x "$agent"
echo "== two namespaces over a veth link shaped by tc: $(ip netns exec "$a" tc qdisc show dev eth0)"
ip netns exec "$a" "${MPIRUN[@]}" --mca plm_rsh_agent "$agent" --host "$a,$b" --map-by node \
    --mca btl tcp,self --mca btl_tcp_if_include "$subnet.0/24" --mca oob_tcp_if_include "$subnet.0/24" \
    -np 2 "$SOFTRL_BIN" bench allreduce "${bench_args[@]}"
