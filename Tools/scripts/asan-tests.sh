#!/usr/bin/env bash
# Runs the test suite under AddressSanitizer in a debug build (Docs/Robustness.md).
#
#   Tools/scripts/asan-tests.sh              every suite (about 1 minute once built; the build about 10 minutes)
#   Tools/scripts/asan-tests.sh files        the suites that read files (parsers, datasets, store, tool)
#   Tools/scripts/asan-tests.sh FILTER       the tests swift test --filter FILTER selects
#   SANITIZER=thread Tools/scripts/asan-tests.sh       another sanitizer swiftc supports here (UBSan is not:
#                                                     swiftc refuses -sanitize=undefined on x86_64 Linux)
#   ASAN_SKIP='testA|testB' Tools/scripts/asan-tests.sh   also skip these tests (a known report being fixed)
#
# Builds into .build-asan/ (or .build-<sanitizer>/) so the release build is left alone.
set -u
cd "$(dirname "$0")/../.."
SANITIZER=${SANITIZER:-address}
FILTER=${1:-all}
[ "$FILTER" = files ] && FILTER='KDDatasetsTests|ImageGridTests|PointCloudTests|TokenEmbeddingTests|KDToolKitTests|ResultsStoreTests|SafetensorsTests|RunFolderLockTests|PluginTests'

SCRATCH=.build-${SANITIZER}
[ "$SANITIZER" = address ] && SCRATCH=.build-asan
start=$(date +%s)
swift build --build-tests --scratch-path "$SCRATCH" -Xswiftc -sanitize="$SANITIZER" || { echo "sanitised build failed" >&2; exit 2; }
built=$(date +%s)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# The sanitizer prints the stack of an error itself. Swift's own crash backtracer, started on the abort
# that follows, deadlocked with the symbolizer it spawned (Swift 6.3.1) and left `swift test` waiting for
# output forever; it is turned off here so a sanitizer error ends the run.
export SWIFT_BACKTRACE=${SWIFT_BACKTRACE:-enable=no}
# Wall-clock bounds written for release builds are not kept under a debug build with AddressSanitizer
# (300,000 pickle appends: 8 s instead of < 5 s); such tests are skipped here, the release suite keeps them.
SKIP='appendsToAMemoisedListAreLinear'${ASAN_SKIP:+|$ASAN_SKIP}
if [ "$FILTER" = all ]; then
    swift test --skip-build --scratch-path "$SCRATCH" --skip "$SKIP"
else
    swift test --skip-build --scratch-path "$SCRATCH" --filter "$FILTER" --skip "$SKIP"
fi
rc=$?
end=$(date +%s)
echo "sanitizer $SANITIZER: build $((built - start)) s, tests $((end - built)) s, status $rc (filter: $FILTER)"
exit $rc
