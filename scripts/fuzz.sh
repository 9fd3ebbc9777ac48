#!/usr/bin/env bash
# Fuzzes the wire and the file readers with libFuzzer. Six targets (Sources/FuzzHarness):
#   learner      LearnerCore.receive/tick/updateFinished on scripts of frames from 4 peers (decode + validate every
#                message kind; audited: nothing trained twice or lost, every reply encodes)
#   actor        ActorSession.receive/tick on frames from a hostile learner (audited: only possible work is
#                generated, the model it is asked to allocate is bounded, every message encodes)
#   safetensors  SafeTensorsFile.read / readHeader (audited: element counts match shapes)
#   jsonl        JSONLTask(path:) (audited: every token of every problem is in the vocabulary)
#   config       a checkpoint's config.json, ModelCheckpoint.parseConfig (audited: an accepted config is inside every
#                bound, survives the writer's round trip, and loads only over weights of its exact shapes)
#   tokenizer    tokenizer.json, HFTokenizer(json:) (audited: every id it encodes is one of its own, encoding is
#                deterministic, decoding never fails)
# Seeds are valid sessions of every message kind made by the real cores; FuzzCorpus/TARGET holds the committed
# regression inputs (replayed by `swift test --filter FuzzCorpusTests`).
#
# Build: release, -sanitize=fuzzer,address, into its own scratch path .build-fuzz (normal builds unaffected).
#
# Usage: scripts/fuzz.sh [--seconds S | --runs N] [--jobs J] [TARGET...]     (default: all targets, --runs 1000000)
#   CI:   scripts/fuzz.sh --seconds 12          (about a minute and a half for all six)
#   Long: scripts/fuzz.sh --runs 1000000        (at least 10^6 executions per target)
# Prints a table of executions, exec/s and corpus size per target. Exit 1 if any target found a crash, a hang
# (-timeout=60 s per input: generous, because on a loaded machine a 10 s limit fired on a 93 ms input), an out-of-memory (-rss_limit_mb=2048) or an audit failure: the input is in
# .build-fuzz/artifacts/TARGET/; reproduce with `SOFTRL_FUZZ_TARGET=TARGET .build-fuzz/release/SoftRLFuzz FILE`.
set -euo pipefail
export SWIFT_BACKTRACE=enable=no   # a crash report in seconds, not minutes (libFuzzer prints its own stack)
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="" runs=1000000 jobs=1 targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds="$2"; runs=""; shift 2 ;;
        --runs) runs="$2"; seconds=""; shift 2 ;;
        --jobs) jobs="$2"; shift 2 ;;
        learner|actor|safetensors|jsonl|config|tokenizer) targets+=("$1"); shift ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) echo "fuzz.sh: unknown argument '$1' (see --help)" >&2; exit 64 ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=(learner actor safetensors jsonl config tokenizer)

scratch=.build-fuzz
flags=(-Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DSOFTRL_LIBFUZZER)
build_start=$(date +%s)
mkdir -p "$scratch"   # a fresh clone has none: the build log goes there
if ! swift build -c release --product SoftRLFuzz --scratch-path "$scratch" "${flags[@]}" >"$scratch/build.log" 2>&1; then
    # SwiftPM links executables with `--defsym main=SoftRLFuzz_main`; GNU gold (the default linker here) then dies
    # with an internal error (dwarf_reader.cc:2713) on the sanitized objects. Link the same objects with lld.
    link=$(swift build -c release --product SoftRLFuzz --scratch-path "$scratch" "${flags[@]}" -v 2>&1 | grep -m1 -- "-module-name SoftRLFuzz -emit-executable" || true)
    if [ -z "$link" ] || ! eval "$link -use-ld=lld" >>"$scratch/build.log" 2>&1; then
        grep -v "Cannot export local symbol" "$scratch/build.log" | tail -n 30; echo "fuzz.sh: the fuzz build failed (log $scratch/build.log)" >&2; exit 1
    fi
fi
bin="$(swift build -c release --product SoftRLFuzz --scratch-path "$scratch" "${flags[@]}" --show-bin-path)/SoftRLFuzz"
echo "== fuzz build: $(( $(date +%s) - build_start )) s"
# libFuzzer really linked: its driver is in the binary (a plain build would be the replayer instead).
if ! nm "$bin" 2>/dev/null | grep LLVMFuzzerRunDriver >/dev/null; then
    echo "fuzz.sh: $bin has no libFuzzer driver (LLVMFuzzerRunDriver): -sanitize=fuzzer did not take" >&2; exit 1
fi

failed=0
summary=()
for t in "${targets[@]}"; do
    work="$scratch/corpus/$t" seeds="$scratch/seeds/$t" art="$scratch/artifacts/$t/"
    mkdir -p "$work" "$art" "FuzzCorpus/$t"
    rm -rf "$seeds"; SOFTRL_FUZZ_TARGET=$t SOFTRL_FUZZ_WRITE_SEEDS="$seeds" "$bin" >/dev/null 2>&1
    limit=(-runs="$runs"); [ -n "$seconds" ] && limit=(-max_total_time="$seconds")
    log="$scratch/fuzz-$t.log"
    echo "== $t: ${seconds:+$seconds s}${runs:+$runs runs} (log $log)"
    start=$(date +%s)
    set +e
    if [ "$jobs" -gt 1 ]; then
        SOFTRL_FUZZ_TARGET=$t "$bin" "$work" "$seeds" "FuzzCorpus/$t" "${limit[@]}" -timeout=60 -rss_limit_mb=2048 -max_len=65536 \
            -artifact_prefix="$art" -print_final_stats=1 -detect_leaks=0 -jobs="$jobs" -workers="$jobs" >"$log" 2>&1
    else
        SOFTRL_FUZZ_TARGET=$t "$bin" "$work" "$seeds" "FuzzCorpus/$t" "${limit[@]}" -timeout=60 -rss_limit_mb=2048 -max_len=65536 \
            -artifact_prefix="$art" -print_final_stats=1 -detect_leaks=0 >"$log" 2>&1
    fi
    status=$?
    set -e
    elapsed=$(( $(date +%s) - start ))
    # With --jobs, each worker writes fuzz-N.log in the current directory: sum their counts.
    logs=("$log"); [ "$jobs" -gt 1 ] && logs=(fuzz-*.log)
    execs=$(cat "${logs[@]}" 2>/dev/null | awk '/stat::number_of_executed_units/ {s += $2} END {print s + 0}')
    if [ "$jobs" -gt 1 ]; then cat fuzz-*.log >>"$log"; rm -f fuzz-*.log; fi
    corpus=$(find "$work" -type f | wc -l)
    rate=$(( execs / (elapsed > 0 ? elapsed : 1) ))
    verdict=ok
    if [ $status -ne 0 ]; then
        verdict="FAILED (status $status): $(grep -m1 -E "ERROR: libFuzzer|ERROR: AddressSanitizer|FUZZ FINDING|Fatal error|deadly signal|timeout" "$log" || echo see log)"
        failed=1
        tail -n 40 "$log"
    fi
    summary+=("| $t | $execs | $rate | $elapsed | $corpus | $verdict |")
done

echo
echo "fuzzing on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
echo "| target | executions | exec/s | seconds | corpus | outcome |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${summary[@]}"
exit $failed
