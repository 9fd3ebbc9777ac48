#!/usr/bin/env bash
# Formats the Swift sources and tests with the toolchain's swift-format and the repository's .swift-format
# (4-space indent, 120 columns, whitespace and line breaks only: every rewriting rule is off). Generated protobuf
# code is left as protoc-gen-swift wrote it. `--check` reports files that would change and exits non-zero.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mapfile -t files < <(git ls-files 'Sources/*.swift' 'Tests/*.swift' 'Package.swift' | grep -v '/Generated/')
if [[ "${1:-}" == "--check" ]]; then
    swift format lint --strict -p "${files[@]}"
else
    swift format -i -p "${files[@]}"
fi
