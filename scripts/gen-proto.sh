#!/usr/bin/env bash
# Regenerates the wire contract's code from proto/softrl.proto, and the TensorBoard event subset.
#   scripts/gen-proto.sh                 -> Sources/Transport/Generated/softrl.pb.swift (committed)
#                                           Sources/Monitoring/Generated/event_subset.pb.swift (committed; from
#                                           proto/tensorboard/event_subset.proto, internal to Monitoring)
#   scripts/gen-proto.sh --python OUTDIR -> OUTDIR/softrl_pb2.py (for Python peers; not committed)
# It is not part of the normal build: the Swift output is committed so `swift build` never needs protoc.
# protoc is Debian's (protobuf-compiler). protoc-gen-swift is built from the swift-protobuf version the
# package resolves, so generated code and runtime library always match. No SwiftPM build plugin: too slow.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PROTO_DIR="proto"
PROTO_FILE="softrl.proto"

command -v protoc >/dev/null || { echo "gen-proto: protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; }

if [[ "${1:-}" == "--python" ]]; then
    OUT="${2:?usage: gen-proto.sh --python OUTDIR}"
    mkdir -p "$OUT"
    protoc --proto_path="$PROTO_DIR" --python_out="$OUT" "$PROTO_DIR/$PROTO_FILE"
    echo "gen-proto: wrote $OUT/softrl_pb2.py"
    exit 0
fi
[[ $# -eq 0 ]] || { echo "usage: gen-proto.sh [--python OUTDIR]" >&2; exit 2; }

# Build protoc-gen-swift once (≈2 min), in its own scratch path so it never disturbs .build/.
SCRATCH="$ROOT/.build-protoc"
PLUGIN=""
if swift build -c release --product protoc-gen-swift --scratch-path "$SCRATCH" >&2; then
    PLUGIN="$(swift build -c release --product protoc-gen-swift --scratch-path "$SCRATCH" --show-bin-path)/protoc-gen-swift"
else
    # Fallback: build inside the resolved swift-protobuf checkout (same version as the runtime).
    CHECKOUT="$ROOT/.build/checkouts/swift-protobuf"
    [[ -d "$CHECKOUT" ]] || swift package resolve >&2
    swift build -c release --product protoc-gen-swift --package-path "$CHECKOUT" --scratch-path "$SCRATCH-checkout" >&2
    PLUGIN="$(swift build -c release --product protoc-gen-swift --package-path "$CHECKOUT" --scratch-path "$SCRATCH-checkout" --show-bin-path)/protoc-gen-swift"
fi
[[ -x "$PLUGIN" ]] || { echo "gen-proto: protoc-gen-swift was not built ($PLUGIN)" >&2; exit 1; }

OUT="Sources/Transport/Generated"
mkdir -p "$OUT"
protoc --proto_path="$PROTO_DIR" \
       --plugin=protoc-gen-swift="$PLUGIN" \
       --swift_out="$OUT" \
       --swift_opt=Visibility=Public \
       "$PROTO_DIR/$PROTO_FILE"
echo "gen-proto: wrote $OUT/softrl.pb.swift"

OUT_TB="Sources/Monitoring/Generated"
mkdir -p "$OUT_TB"
protoc --proto_path="$PROTO_DIR/tensorboard" \
       --plugin=protoc-gen-swift="$PLUGIN" \
       --swift_out="$OUT_TB" \
       --swift_opt=Visibility=Internal \
       "$PROTO_DIR/tensorboard/event_subset.proto"
echo "gen-proto: wrote $OUT_TB/event_subset.pb.swift"
