#!/usr/bin/env bash
# Builds the libFuzzer fuzzers of Tools/fuzz and runs each on its seed corpus (Docs/Robustness.md).
#
#   Tools/scripts/fuzz.sh [SECONDS] [TARGET…]     default 60 s each, every target, one at a time
#
# Corpora grow in Tools/fuzz/.work/<target>/ (seeds in Tools/fuzz/corpus/<target>/ are not modified); crash
# inputs land in Tools/fuzz/.work/crashes/. Prints one line per target with executions, coverage (cov, ft)
# and the outcome, and exits non-zero when any target crashed. JOBS (default 1) fuzzing processes per target.
set -u
cd "$(dirname "$0")/../.."
SECONDS_EACH=${1:-60}
shift || true
ALL=(fuzz-xml fuzz-pickle fuzz-safetensors fuzz-idx fuzz-json fuzz-image fuzz-cub fuzz-voc fuzz-tinyimagenet fuzz-ilsvrc)
TARGETS=("$@"); [ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL[@]}")
FUZZ=Tools/fuzz

# Sanitizer flags on the command line only; the C shim over libjpeg/libpng is instrumented too.
swift build -c release --package-path "$FUZZ" \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library \
    -Xcc -fsanitize=fuzzer-no-link,address >&2 || { echo "fuzz build failed" >&2; exit 2; }
BIN=$(swift build -c release --package-path "$FUZZ" --show-bin-path)

mkdir -p "$FUZZ/.work/crashes"
crashed=0
for t in "${TARGETS[@]}"; do
    work="$FUZZ/.work/$t"; mkdir -p "$work"
    log="$FUZZ/.work/$t.log"
    ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 "$BIN/$t" "$work" "$FUZZ/corpus/$t" \
        -max_total_time="$SECONDS_EACH" -max_len=65536 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$FUZZ/.work/crashes/$t-" >"$log" 2>&1
    rc=$?
    execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last"); ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corpus=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$last")
    if [ $rc -eq 0 ]; then outcome="no crash"; else
        crashed=$((crashed + 1)); outcome="CRASH (status $rc): $(grep -m1 -E 'ERROR: |Fatal error|SUMMARY' "$log" | cut -c1-160); see $log"
    fi
    printf '%-18s %4ss  execs %-9s cov %-6s ft %-6s corpus %-10s %s\n' "$t" "$SECONDS_EACH" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corpus:-?}" "$outcome"
done
[ $crashed -eq 0 ]
