#!/usr/bin/env bash
# Builds the libFuzzer fuzzers of Tools/fuzz and runs each on its seed corpus (Docs/Robustness.md).
#
#   Tools/scripts/fuzz.sh [SECONDS] [TARGET…]     default 60 s each, every target
#
#   PARALLEL=N   run up to N targets at once (default 1, one after the other)
#   NICE=N       run the fuzzers under `nice -n N` (default 0; the ten-minute runs used 19 on a shared machine)
#   FUZZ_BIN=DIR skip the build and run the fuzzers found in DIR (a copy of a build's binaries)
#
# The binaries are copied to Tools/fuzz/.work/bin-<pid>/ before they run, so a rebuild while fuzzers run
# never replaces a running executable. Corpora grow in Tools/fuzz/.work/<target>/ (seeds in
# Tools/fuzz/corpus/<target>/ are not modified); crash inputs land in Tools/fuzz/.work/crashes/. Prints one
# line per target with executions, coverage (cov, ft), corpus size and the outcome, and exits non-zero when
# any target crashed.
set -u
cd "$(dirname "$0")/../.."
SECONDS_EACH=${1:-60}
shift || true
ALL=(fuzz-xml fuzz-pickle fuzz-safetensors fuzz-idx fuzz-json fuzz-image fuzz-cub fuzz-voc fuzz-tinyimagenet fuzz-ilsvrc
     fuzz-off fuzz-ply fuzz-stl fuzz-obj fuzz-point-background fuzz-squad fuzz-tsv fuzz-vocab)
TARGETS=("$@"); [ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL[@]}")
PARALLEL=${PARALLEL:-1}
NICE=${NICE:-0}
FUZZ=Tools/fuzz
mkdir -p "$FUZZ/.work/crashes"

if [ -z "${FUZZ_BIN:-}" ]; then
    # Sanitizer flags on the command line only; the C shim over libjpeg/libpng is instrumented too.
    swift build -c release --package-path "$FUZZ" \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library \
        -Xcc -fsanitize=fuzzer-no-link,address >&2 || { echo "fuzz build failed" >&2; exit 2; }
    built=$(swift build -c release --package-path "$FUZZ" --show-bin-path)
    FUZZ_BIN="$FUZZ/.work/bin-$$"
    mkdir -p "$FUZZ_BIN"
    for t in "${TARGETS[@]}"; do cp "$built/$t" "$FUZZ_BIN/" || { echo "no fuzzer $t" >&2; exit 2; }; done
    trap 'rm -rf "$FUZZ_BIN"' EXIT
fi

# One target: fuzz it, then print its line; the status is libFuzzer's.
run() {
    local t=$1 work="$FUZZ/.work/$1" log="$FUZZ/.work/$1.log" rc
    mkdir -p "$work"
    ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 nice -n "$NICE" "$FUZZ_BIN/$t" "$work" "$FUZZ/corpus/$t" \
        -max_total_time="$SECONDS_EACH" -max_len=65536 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$FUZZ/.work/crashes/$t-" >"$log" 2>&1
    rc=$?
    local execs last cov ft corpus outcome
    execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last"); ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corpus=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$last")
    if [ $rc -eq 0 ]; then outcome="no crash"; else
        outcome="CRASH (status $rc): $(grep -m1 -E 'ERROR: |Fatal error|SUMMARY' "$log" | cut -c1-160); see $log"
    fi
    printf '%-22s %4ss  execs %-9s cov %-6s ft %-6s corpus %-10s %s\n' "$t" "$SECONDS_EACH" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corpus:-?}" "$outcome"
    return $rc
}

crashed=0
running=0
for t in "${TARGETS[@]}"; do
    if [ "$running" -ge "$PARALLEL" ]; then
        wait -n || crashed=$((crashed + 1))
        running=$((running - 1))
    fi
    run "$t" &
    running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
    wait -n || crashed=$((crashed + 1))
    running=$((running - 1))
done
[ $crashed -eq 0 ]
