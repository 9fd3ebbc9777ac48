#!/usr/bin/env bash
# The project's whole test suite: builds the softrl binary (the cluster tests run it as real processes) and
# the tests, then runs every test target. Exits non-zero on any build or test failure.
# Needs the system packages that .ci/run installs (libzmq3-dev, libopenblas-dev, ...). Tests whose environment
# is missing (no root for network namespaces, no python3-zmq, ...) skip with a printed reason.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "== swift build --product softrl"
swift build --product softrl
echo "== swift build --build-tests"
swift build --build-tests
echo "== swift test --skip-build"
swift test --skip-build
