#!/usr/bin/env bash
# The project's whole test suite: builds the softrl binary (the cluster tests run it as real processes) and
# the tests, then runs every test target. Exits non-zero on any build or test failure.
# First installs whatever system packages are missing (scripts/setup.sh; a no-op when all are present). Tests
# whose environment is missing (no root for network namespaces, no prometheus, no chromium, ...) skip with a
# printed reason.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "== scripts/setup.sh"
bash scripts/setup.sh

echo "== swift build --product softrl"
swift build --product softrl
# The test bundle product only: `swift build --build-tests` builds every target of every dependency, which
# includes swift-protobuf's bundled C++ protoc and abseil twice (as a product and as a host tool) - 20+ minutes
# on 2 shared cores for code no test uses.
echo "== swift build --product SoftRLPackageTests"
swift build --product SoftRLPackageTests
echo "== swift test --skip-build"
swift test --skip-build
# Fuzzing: the libFuzzer build (release + address sanitizer, own scratch path .build-fuzz) and about a
# minute of fuzzing over every target; a crash, hang or audit failure fails the suite. The long run
# (>= 10^6 executions per target) is `scripts/fuzz.sh --runs 1000000`.
echo "== scripts/fuzz.sh --seconds 12"
bash scripts/fuzz.sh --seconds 12
