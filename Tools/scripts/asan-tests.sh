#!/usr/bin/env bash
# Runs the test suite under AddressSanitizer in a debug build (Docs/Robustness.md).
#
#   Tools/scripts/asan-tests.sh [FILTER]     default: the parser, dataset, store and tool suites
#   Tools/scripts/asan-tests.sh all          every suite (slow: the numeric suites take long in debug)
#   SANITIZER=undefined Tools/scripts/asan-tests.sh    try UBSan instead (see Docs/Robustness.md)
#
# Builds into .build-asan/ (or .build-<sanitizer>/) so the release build is left alone.
set -u
cd "$(dirname "$0")/../.."
SANITIZER=${SANITIZER:-address}
FILTER=${1:-'KDDatasetsTests|ImageGridTests|KDToolKitTests|ResultsStoreTests|SafetensorsTests|RunFolderLockTests|PluginTests'}
SCRATCH=.build-${SANITIZER}
[ "$SANITIZER" = address ] && SCRATCH=.build-asan
start=$(date +%s)
swift build --build-tests --scratch-path "$SCRATCH" -Xswiftc -sanitize="$SANITIZER" || { echo "sanitised build failed" >&2; exit 2; }
built=$(date +%s)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if [ "$FILTER" = all ]; then
    swift test --skip-build --scratch-path "$SCRATCH"
else
    swift test --skip-build --scratch-path "$SCRATCH" --filter "$FILTER"
fi
rc=$?
end=$(date +%s)
echo "sanitizer $SANITIZER: build $((built - start)) s, tests $((end - built)) s, status $rc (filter: $FILTER)"
exit $rc
