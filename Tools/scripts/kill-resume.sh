#!/usr/bin/env bash
# Kill-and-resume test of `kd-tool analyze` (Docs/Robustness.md).
#
#   Tools/scripts/kill-resume.sh [N]        N kills (default 20)
#
# Builds a tiny composite dataset with the release kd-tool, runs an uninterrupted reference analysis, then
# runs the same analysis in another folder killed with SIGKILL N times (alternately after a delay that
# grows with each kill up to the reference time, and the moment a file in the run folder appears or grows:
# checkpoint writes, CSV appends, store commits), resuming each time, and lets it finish. It then checks that table5.csv, per_input.csv,
# curves.csv and every entropy map in results.sqlite (of the study folder seed-1/) equal the reference bit for bit (also for a run
# that completes before its kill, after which the folder starts over), that every checkpoint
# in the folder passes `kd-tool check`, and that the folder refuses a run with other settings.
# The last line is 'N passed, M failed'; the exit status is non-zero on any failure.
#
# Environment: KD_TOOL (default .build/release/kd-tool, built when missing), KEEP=1 keeps the work folder,
# SEED (default 1) for the kill moments.
set -u
cd "$(dirname "$0")/../.."
N=${1:-20}
KD=${KD_TOOL:-.build/release/kd-tool}
SEED=${SEED:-1}
passed=0; failed=0
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }

if [ ! -x "$KD" ]; then
    echo "building $KD" >&2
    swift build -c release --product kd-tool >&2 || { fail "cannot build kd-tool"; finish; }
fi
if ! command -v sqlite3 >/dev/null; then
    echo "installing Debian's sqlite3 (the CLI)" >&2
    if [ "$(id -u)" -eq 0 ]; then apt-get install -y sqlite3 >&2; else sudo apt-get install -y sqlite3 >&2; fi
    command -v sqlite3 >/dev/null || { fail "no sqlite3 CLI"; finish; }
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kd-kill-resume.XXXXXX")
[ "${KEEP:-0}" = 1 ] && echo "work folder: $WORK" >&2 || trap 'rm -rf "$WORK"' EXIT
start=$(date +%s)

"$KD" dataset composite --output "$WORK/data.tgz" --option per-class=12 --option size=32 --option test-fraction=0.5 \
    >"$WORK/dataset.log" 2>&1 || { fail "dataset build: $(tail -3 "$WORK/dataset.log")"; finish; }

SETTINGS=(--option image-size=32 --option grid=8 --teacher-epochs 2 --student-epochs 2 --stage2-epochs 1
          --baseline-epochs 2 --inputs 4 --steps 10 --noise-samples 4 --sigma-param log --checkpoint-dense-up-to 2)
analyze() { "$KD" analyze --data "$WORK/data.tgz" --output "$1" "${SETTINGS[@]}" "${@:2}"; }
# analyze writes one study folder per seed (OUTPUT/seed-N/, next to resolved.yaml); the default seed is 1.
STUDY=seed-1

t0=$(date +%s.%N)
if analyze "$WORK/reference" >"$WORK/reference.log" 2>&1; then pass "reference run"; else
    fail "reference run: $(tail -5 "$WORK/reference.log")"; finish; fi
t1=$(date +%s.%N)
ref_ms=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", (b - a) * 1000 }')
echo "reference run: ${ref_ms} ms" >&2

# Every entropy map, ordered by key; doubles printed with 17 significant digits (exact), BLOBs in hex.
dump() {
    sqlite3 "$1/$STUDY/results.sqlite" "SELECT run, network, tap, settings_hash, epoch, input_id, unit_count, hex(entropies),
        hex(foreground), printf('%.17e', sigma_f2), printf('%.17e', final_loss), printf('%.17e', alpha), chosen_step,
        printf('%.17e', mean_entropy), loss_flattened, target_reached
        FROM entropy_maps ORDER BY run, network, tap, settings_hash, epoch, input_id"
}
# Compares the outputs of the run folder $1 with the reference; $2 says which run it was.
compare() {
    local f maps
    for f in table5.csv per_input.csv curves.csv; do
        if cmp -s "$WORK/reference/$STUDY/$f" "$1/$STUDY/$f"; then pass "$2: $f identical"; else
            fail "$2: $f differs: $(diff "$WORK/reference/$STUDY/$f" "$1/$STUDY/$f" 2>&1 | head -4 | tr '\n' ' ')"; fi
    done
    dump "$1" >"$WORK/compared.maps" 2>&1
    maps=$(wc -l <"$WORK/reference.maps")
    if [ "$maps" -gt 0 ] && cmp -s "$WORK/reference.maps" "$WORK/compared.maps"; then pass "$2: all $maps entropy maps identical"; else
        fail "$2: entropy maps differ ($maps in the reference, $(wc -l <"$WORK/compared.maps") here): $(diff "$WORK/reference.maps" "$WORK/compared.maps" | head -2 | cut -c1-200 | tr '\n' ' ')"; fi
}

dump "$WORK/reference" >"$WORK/reference.maps" 2>&1

# A fingerprint of everything in a run folder that changes as the run goes (names and sizes).
fingerprint() { find "$1" -type f -printf '%P %s\n' 2>/dev/null | sort | md5sum; }

# Deterministic pseudo-random numbers for the kill moments.
RANDOM=$SEED
KILLED="$WORK/killed"
completed_early=0
for i in $(seq 1 "$N"); do
    # kd-tool itself in the background (not a subshell running it), so the SIGKILL reaches it.
    "$KD" analyze --data "$WORK/data.tgz" --output "$KILLED" "${SETTINGS[@]}" >>"$WORK/killed.log" 2>&1 &
    pid=$!
    if [ $((i % 2)) -eq 1 ]; then
        # After a delay that grows with i up to the reference time, so the kills walk through the whole run
        # (training, checkpoint writes, map computation, the final reports).
        delay_ms=$(( 200 + ref_ms * i / N * (60 + RANDOM % 45) / 100 ))
        how="after ${delay_ms} ms"
        sleep "$(awk -v d="$delay_ms" 'BEGIN { printf "%.3f", d / 1000 }')"
    else
        # When the run folder next changes (a checkpoint, a CSV row, a store commit) after a growing delay,
        # plus 0-20 ms.
        sleep "$(awk -v d="$(( ref_ms * i / N * (40 + RANDOM % 40) / 100 ))" 'BEGIN { printf "%.3f", d / 1000 }')"
        before=$(fingerprint "$KILLED"); waited=0
        while kill -0 "$pid" 2>/dev/null && [ "$(fingerprint "$KILLED")" = "$before" ] && [ $waited -lt 3000 ]; do
            sleep 0.005; waited=$((waited + 5))
        done
        extra=$((RANDOM % 20))
        sleep "0.0$(printf '%02d' $extra)"
        how="when the folder changed (+${extra} ms)"
    fi
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        echo "kill $i: $how; $(find "$KILLED" -name '*.safetensors' -not -name '.*' 2>/dev/null | wc -l) checkpoints, $(sqlite3 "$KILLED/$STUDY/results.sqlite" 'SELECT count(*) FROM entropy_maps' 2>/dev/null || echo 0) maps" >&2
    else
        wait "$pid"; rc=$?
        completed_early=$((completed_early + 1))
        echo "kill $i: the run ended (status $rc) before the kill ($how)" >&2
        if [ $rc -eq 0 ]; then compare "$KILLED" "run completed before kill $i"; else
            fail "run $i ended with status $rc: $(tail -3 "$WORK/killed.log")"; fi
        rm -rf "$KILLED"   # start over so the remaining kills still interrupt something
    fi
done
if analyze "$KILLED" >>"$WORK/killed.log" 2>&1; then pass "resumed run completed after $N kills ($completed_early runs ended before their kill)"; else
    fail "final resumed run: $(tail -5 "$WORK/killed.log")"; fi

compare "$KILLED" "after $N kills"

bad=0; count=0
while IFS= read -r f; do
    count=$((count + 1))
    "$KD" check "$f" >"$WORK/check.log" 2>&1 || { bad=$((bad + 1)); echo "unreadable: $f: $(grep -m1 problem: "$WORK/check.log")" >&2; }
done < <(find "$KILLED" -name '*.safetensors' -not -name '.*')
if [ "$count" -gt 0 ] && [ "$bad" -eq 0 ]; then pass "all $count checkpoint files pass kd-tool check"; else fail "$bad of $count checkpoint files fail kd-tool check"; fi
litter=$(find "$KILLED" -name '.*.tmp' | wc -l)
echo "temporary files left by killed writes: $litter" >&2

if analyze "$KILLED" --teacher-epochs 3 >"$WORK/other.log" 2>&1; then fail "a run with other settings was accepted in the folder"; else
    if grep -q "teacherEpochs" "$WORK/other.log"; then pass "a run with other settings is refused, naming the setting"; else
        fail "a run with other settings failed without naming the setting: $(tail -2 "$WORK/other.log")"; fi
fi

echo "kill-resume: $N kills, reference ${ref_ms} ms, total $(( $(date +%s) - start )) s" >&2
finish
