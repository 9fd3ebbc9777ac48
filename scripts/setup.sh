#!/usr/bin/env bash
# Installs the Debian packages SoftRL needs when any is missing (libzmq, OpenBLAS, protobuf-c, protoc,
# pkg-config; python3-zmq/python3-protobuf for the Python-peer test; iproute2 for the multi-host test).
# Idempotent: does nothing when everything is present. Needs root or sudo for apt-get.
set -euo pipefail
PACKAGES=(libzmq3-dev libopenblas-dev libprotobuf-c-dev protobuf-compiler pkg-config python3-zmq python3-protobuf iproute2)
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
