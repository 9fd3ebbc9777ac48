#!/usr/bin/env bash
# oneDNN (Debian's libdnnl-dev) against SoftRL's own packed kernels on SmolLM2-135M's linear layers, one thread,
# at 1, 8 and 32 rows (decode) and 128 (a prefill), beside `softrl bench model --preset smollm2`'s own bf16 figures
# in the same run. oneDNN is only this benchmark's dependency, never the product's: scripts/bench-onednn.c is
# compiled here against Sources/CKernels directly.
# Usage: scripts/bench-onednn.sh [MIN_SECONDS_PER_ROW]   (from the repository root; needs a release build)
set -euo pipefail
cd "$(dirname "$0")/.."
min_seconds="${1:-1.0}"

if [ ! -e /usr/include/oneapi/dnnl/dnnl.h ]; then
    echo "installing libdnnl-dev (oneDNN)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y libdnnl-dev >/dev/null
fi
cc=clang # the kernels use `#pragma clang attribute` for their per-ISA targets
command -v "$cc" >/dev/null || { echo "clang not found (the Swift toolchain ships one)"; exit 1; }
if ! grep -q avx512_bf16 /proc/cpuinfo; then
    echo "this CPU has no AVX512_BF16: the own bf16 kernels cannot run here"; exit 1
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
"$cc" -O2 -std=gnu11 -I Sources/CKernels/include scripts/bench-onednn.c Sources/CKernels/kernels.c \
    Sources/CKernels/kernels_bf16.c Sources/CKernels/cpu.c -o "$out/bench" -ldnnl -lm

softrl=.build/release/softrl
[ -x "$softrl" ] || swift build -c release --product softrl >/dev/null

model="$(lscpu | sed -n 's/^Model name: *//p')"
family="$(lscpu | sed -n 's/^CPU family: *//p')"
cpu_model="$(lscpu | sed -n 's/^Model: *//p')"
echo "machine: $model (family $family model $cpu_model), $(nproc) cores, Linux $(uname -r)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

# oneDNN and the own kernels, on the same weights in the same process.
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$out/bench" "$min_seconds" | tee "$out/kernels.txt"

# SoftRL end to end (attention, norms, sampling included), bf16 rows only matter here.
"$softrl" bench model --preset smollm2 --no-torch --decode-batches 1,8,32 --prefill-batch 1 \
    --prefill-length 128 | tee "$out/model.txt"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$out/kernels.txt" "$out/model.txt" <<'EOF'
import re, sys
ms = {}
for line in open(sys.argv[1]):
    if line.startswith("#"):
        continue
    name, m, t, err = line.split()
    ms.setdefault(int(m), {})[name] = (float(t), float(err))
kernels = ["own-f32", "own-bf16w", "own-bf16", "dnnl-sgemm", "dnnl-matmul-f32", "dnnl-matmul-bf16"]
print()
print("Linear layers of one SmolLM2-135M step (30 layers + LM head), ms per step, one thread:")
print("rows | " + " | ".join(kernels) + " | own bf16 / oneDNN bf16 | own f32 / oneDNN matmul f32")
for m in sorted(ms):
    r = ms[m]
    cells = ["%.1f" % r[k][0] if k in r else "-" for k in kernels]
    own_bf16 = min(r["own-bf16"][0], r["own-bf16w"][0])
    print("%4d | %s | %.2fx | %.2fx" % (m, " | ".join(cells), r["dnnl-matmul-bf16"][0] / own_bf16,
                                       r["dnnl-matmul-f32"][0] / r["own-f32"][0]))
print("(ratios > 1: SoftRL's kernel faster; own bf16 = the faster of bf16 weights and bf16 products)")
worst = max(e for r in ms.values() for (_, e) in r.values())
print("largest error against the double product on the fp32 weights: %.1e (bf16 rounding ~1e-3)" % worst)
print()
print("softrl bench model --preset smollm2, same run (whole decode step, tokens/s):")
for line in open(sys.argv[2]):
    if re.match(r"^(decode batch .*: fp32 .*\|)|^prefill ", line):
        print("  " + line.strip())
EOF
