#!/usr/bin/env bash
# Installs the Debian packages SoftRL needs when any is missing (libzmq, OpenBLAS, protobuf-c, protoc,
# pkg-config; python3-zmq/python3-protobuf/python3-numpy for the Python-peer test; iproute2 for the multi-host test; see below
# for the operator's-view tests), and TensorBoard's Python package into ./.venv for the tfevents reader test.
# Idempotent: does nothing when everything is present. Needs root or sudo for apt-get.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# The operator's-view tests run against real components: prometheus (server + promtool), tmux, chromium,
# slurm-wlm (slurmctld + slurmd); python3-yaml reads the Kubernetes manifests. All of these together install in
# ~25 s from Debian's mirror. qemu-user runs the binary and the kernel tests on emulated CPUs this machine is not
# (AVX2 without AVX-512, AVX2 without FMA, AVX without AVX2): the dispatch and the AVX2 kernels on a real cpuid.
# libopenmpi-dev: mpi.h for the CMPI shim (the build needs it); openmpi-bin: mpirun for the learner-rank tests.
PACKAGES=(libzmq3-dev libopenblas-dev libprotobuf-c-dev protobuf-compiler pkg-config python3-zmq python3-protobuf python3-numpy iproute2
          prometheus tmux chromium slurm-wlm python3-yaml python3-venv qemu-user libopenmpi-dev openmpi-bin)
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    SUDO=""
    [[ $(id -u) -eq 0 ]] || SUDO="sudo"
    echo "setup: installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "setup: swift not found: install Swift 6.2+ (https://www.swift.org/install) and put it on PATH" >&2; exit 1; }
# TensorBoard's event reader checks the tfevents files SoftRL writes. Best effort: without network the test skips
# and says why.
if ! .venv/bin/python -c "import tensorboard" 2>/dev/null; then
    echo "setup: installing tensorboard into .venv"
    { [[ -x .venv/bin/python ]] || python3 -m venv .venv; } && .venv/bin/pip install -q tensorboard \
        || echo "setup: could not install tensorboard into .venv; the TensorBoard reader test will skip" >&2
fi
