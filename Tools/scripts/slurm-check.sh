#!/usr/bin/env bash
# A real one-node Slurm cluster running a sharded experiment (Docs/Scaling.md).
#
#   Tools/scripts/slurm-check.sh
#
# Installs Debian's slurm-wlm and munge when missing (apt-get; root or sudo), then, all under a temporary
# folder: creates a munge key and starts its own munged on its own socket, writes a slurm.conf for this one
# node (its real CPUs and memory from `slurmd -C`; select/cons_tres, proctrack/linuxproc, no cgroups,
# SlurmdUser=root, ports 17817/17818 unless SLURM_CHECK_PORT is set), starts slurmctld and slurmd in the
# foreground as children of this script (no systemd) and waits for the node to be idle. Then:
#   1. a 4-task job array running `kd-tool plugins` (the cluster runs array tasks and writes their logs);
#   2. `kd-tool slurm` on a tiny experiment (2 seeds, 1-2 epochs) with 4 shards and --submit; waits for the
#      four chained jobs, task 2 of the maps array failing once on purpose (the jobs' kd-tool is a stand-in
#      that fails there once, then runs the real one), so the final job is cancelled; runs
#      `submit.sh maps 2` as Docs/Scaling.md says and waits for that task and the final job; runs the same
#      experiment unsharded in another folder; checks that experiment.csv, experiment.txt, each study's
#      table5.csv and every entropy map of each study's results.sqlite are identical bit for bit, that each
#      study got its report.html, and that `kd-tool status` prints the same for each study of both runs.
# Prints PASS/FAIL lines, stops the daemons it started, and exits non-zero on any failure. The last line is
# 'N passed, M failed'.
#
# Environment: KD_TOOL (default .build/release/kd-tool, built when missing), KEEP=1 keeps the work folder,
# SLURM_CHECK_SMOKE_ONLY=1 stops after step 1, SLURM_CHECK_TIMEOUT (seconds to wait for the jobs, default 600).
set -u
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
KD=${KD_TOOL:-.build/release/kd-tool}
PORT=${SLURM_CHECK_PORT:-17817}
TIMEOUT=${SLURM_CHECK_TIMEOUT:-600}
passed=0; failed=0; pids=()
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
stop_daemons() {
    local i
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[$i]}" 2>/dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
    pids=()
}
finish() { stop_daemons; echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }

if [ ! -x "$KD" ]; then
    echo "building $KD" >&2
    swift build -c release --product kd-tool >&2 || { fail "cannot build kd-tool"; finish; }
fi
KD=$(cd "$(dirname "$KD")" && pwd)/$(basename "$KD")

# Debian's packages, installed once.
need=()
for c in slurmctld:slurmctld slurmd:slurmd sbatch:slurm-client munged:munge sqlite3:sqlite3; do
    command -v "${c%%:*}" >/dev/null || [ -x "/usr/sbin/${c%%:*}" ] || need+=("${c#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "installing Debian's ${need[*]}" >&2
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends slurm-wlm munge sqlite3 >&2 \
        || { fail "cannot install slurm-wlm and munge"; finish; }
fi
export PATH="$PATH:/usr/sbin"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kd-slurm-check.XXXXXX")
chmod 700 "$WORK"
if [ "${KEEP:-0}" = 1 ]; then echo "work folder: $WORK" >&2; else trap 'stop_daemons; rm -rf "$WORK"' EXIT; fi
trap 'stop_daemons; exit 130' INT TERM
start=$(date +%s)
mkdir -p "$WORK/munge" "$WORK/state" "$WORK/spool" "$WORK/log" "$WORK/run" "$WORK/exp" "$WORK/runs"

# munge: a fresh key and a daemon of our own on our own socket.
dd if=/dev/urandom of="$WORK/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$WORK/munge/munge.key"
MUNGE_SOCKET="$WORK/munge/munge.socket"
munged --foreground --force --key-file="$WORK/munge/munge.key" --socket="$MUNGE_SOCKET" \
    --pid-file="$WORK/munge/munged.pid" --log-file="$WORK/log/munged.log" --seed-file="$WORK/munge/munged.seed" \
    >"$WORK/log/munged.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [ -S "$MUNGE_SOCKET" ] && break; sleep 0.1; done
if munge --socket="$MUNGE_SOCKET" -n </dev/null | unmunge --socket="$MUNGE_SOCKET" >/dev/null 2>&1; then pass "munged runs (credential round trip)"; else
    fail "munged: $(tail -3 "$WORK/log/munged.log" "$WORK/log/munged.out" 2>/dev/null | tr '\n' ' ')"; finish; fi

# slurm.conf for this node, as slurmd sees it.
NODE_LINE=$(slurmd -C | head -1)
NODE=$(echo "$NODE_LINE" | sed -n 's/^NodeName=\([^ ]*\).*/\1/p')
[ -n "$NODE" ] || { fail "slurmd -C gave no node line: $NODE_LINE"; finish; }
export SLURM_CONF="$WORK/slurm.conf"
cat >"$SLURM_CONF" <<EOF
ClusterName=kdcheck
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
CredType=cred/munge
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/run/slurmctld.pid
SlurmdPidFile=$WORK/run/slurmd.pid
SlurmctldLogFile=$WORK/log/slurmctld.log
SlurmdLogFile=$WORK/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$WORK/log/jobcomp.txt
DependencyParameters=kill_invalid_depend
MinJobAge=3600
$NODE_LINE NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=kd Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
echo "slurm.conf node: $NODE_LINE" >&2

slurmctld -D -f "$SLURM_CONF" >"$WORK/log/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" >"$WORK/log/slurmd.out" 2>&1 &
pids+=($!)
state=""
for _ in $(seq 60); do
    state=$(sinfo -h -n "$NODE" -o %t 2>/dev/null)
    [ "$state" = idle ] && break
    sleep 1
done
if [ "$state" = idle ]; then pass "one-node cluster up: node $NODE idle ($(echo "$NODE_LINE" | grep -o 'CPUs=[0-9]*'), $(echo "$NODE_LINE" | grep -o 'RealMemory=[0-9]*') MB)"; else
    fail "node $NODE not idle after 60 s (state '$state'): $(tail -3 "$WORK/log/slurmctld.log" "$WORK/log/slurmd.log" 2>/dev/null | tr '\n' ' ')"; finish; fi

# Waits for jobs $@ to leave the queue; then every one of their tasks must have ended COMPLETED.
wait_jobs() {
    local waited=0 ids states
    ids=$(IFS=,; echo "$*")
    while [ -n "$(squeue -h -j "$ids" -o %i 2>/dev/null)" ] && [ $waited -lt "$TIMEOUT" ]; do sleep 2; waited=$((waited + 2)); done
    [ -z "$(squeue -h -j "$ids" -o %i 2>/dev/null)" ] || { echo "jobs $ids still queued after $TIMEOUT s" >&2; scancel "${@}"; return 1; }
    states=$(for j in "$@"; do scontrol -o show job "$j" | grep -o 'JobState=[A-Z_]*'; done | sort | uniq -c | tr -s ' \n' ' ')
    echo "jobs $ids: $states (${waited} s)" >&2
    ! for j in "$@"; do scontrol -o show job "$j"; done | grep -o 'JobState=[A-Z_]*' | grep -vq 'JobState=COMPLETED'
}

# One line per job or array task of $@ that did not end COMPLETED: name, task, state, reason, its log's last line.
not_completed() {
    local j
    for j in "$@"; do scontrol -o show job "$j"; done | grep -v 'JobState=COMPLETED' | while read -r line; do
        get() { echo "$line" | grep -o "$1=[^ ]*" | head -1 | cut -d= -f2-; }
        log=$(ls "${SHARDED:-/nonexistent}/slurm/logs/"*"-$(get ArrayJobId)_$(get ArrayTaskId).log" 2>/dev/null | head -1)
        echo "[$(get JobName) task $(get ArrayTaskId): $(get JobState) ($(get Reason))$([ -f "$log" ] && echo ": $(tail -1 "$log")")]"
    done | tr '\n' ' '
}

# 1. A job array of our own: 4 tasks running `kd-tool plugins`, one log each.
mkdir -p "$WORK/smoke"
cat >"$WORK/smoke/plugins.sbatch" <<EOF
#!/usr/bin/env bash
#SBATCH --job-name=kd-smoke
#SBATCH --array=1-4
#SBATCH --output=$WORK/smoke/plugins-%A_%a.log
echo "task \$SLURM_ARRAY_TASK_ID of \$SLURM_ARRAY_TASK_COUNT"
exec "$KD" plugins
EOF
if smoke=$(sbatch --parsable "$WORK/smoke/plugins.sbatch" 2>&1) && wait_jobs "${smoke%%;*}"; then
    logs=$(grep -l "^task [1-4] of 4" "$WORK"/smoke/plugins-*.log 2>/dev/null | wc -l)
    plugins=$("$KD" plugins | md5sum)
    same=0
    for f in "$WORK"/smoke/plugins-*.log; do [ "$(tail -n +2 "$f" | md5sum)" = "$plugins" ] && same=$((same + 1)); done
    if [ "$logs" -eq 4 ] && [ "$same" -eq 4 ]; then pass "job array ${smoke%%;*}: 4 tasks completed, each log has kd-tool plugins' output"; else
        fail "job array ${smoke%%;*}: $logs task logs, $same with kd-tool plugins' output"; fi
else
    fail "job array: $smoke $(tail -2 "$WORK/log/slurmctld.log" | tr '\n' ' ')"; finish
fi
[ "${SLURM_CHECK_SMOKE_ONLY:-0}" = 1 ] && finish

# 2. A tiny experiment in 4 shards through `kd-tool slurm --submit`, against the same experiment unsharded.
"$KD" dataset composite --output "$WORK/exp/data.tgz" --option per-class=8 --option size=32 --option test-fraction=0.5 \
    >"$WORK/dataset.log" 2>&1 || { fail "dataset build: $(tail -3 "$WORK/dataset.log")"; finish; }
cat >"$WORK/exp/tiny experiment.yaml" <<EOF
# slurm-check.sh: a tiny experiment, 2 seeds, 1-2 epochs.
plugin: image-grid
data: data.tgz
options: {image-size: 32, grid: 8}
teacher: {epochs: 2}
student: {epochs: 2, stage2-epochs: 1}
baseline: {epochs: 2}
checkpoints: {dense-up-to: 2}
methods: [feature, hinton]
seeds: [1, 2]
analysed-inputs: 4
entropy: {sigma-param: log, steps: 10, noise-samples: 4}
EOF
EXP="$WORK/exp/tiny experiment.yaml"
SHARDED="$WORK/runs/sharded out"      # a space in the path: the scripts must quote it
UNSHARDED="$WORK/runs/unsharded"
# The jobs run kd-tool through a stand-in that runs the real one, except that task 2 of the maps stage fails
# the first time: the run must recover the way Docs/Scaling.md says (submit.sh maps 2).
cat >"$WORK/kd-fails-once" <<EOF
#!/usr/bin/env bash
if [ "\${SLURM_ARRAY_TASK_ID:-}" = 2 ] && [[ " \$* " == *" --stage maps "* ]] && [ ! -e "$WORK/failed-once" ]; then
    touch "$WORK/failed-once"; echo "slurm-check: task 2 of maps fails once, on purpose" >&2; exit 1
fi
exec "$KD" "\$@"
EOF
chmod +x "$WORK/kd-fails-once"
if (cd "$WORK" && "$KD" slurm "$EXP" --shards 4 --output "$SHARDED" --time 00:20:00 --kd-tool "$WORK/kd-fails-once" --submit) \
        >"$WORK/submit.log" 2>&1; then
    cat "$WORK/submit.log" >&2
    ids=$(awk 'NF == 2 && $2 ~ /^[0-9]+$/ { print $2 }' "$WORK/submit.log")
    if [ "$(echo "$ids" | wc -w)" -eq 4 ]; then pass "kd-tool slurm --submit: 4 chained jobs ($(echo $ids))"; else
        fail "kd-tool slurm --submit printed $(echo "$ids" | wc -w) job ids, expected 4: $(cat "$WORK/submit.log")"; finish; fi
else
    fail "kd-tool slurm --submit: $(tail -5 "$WORK/submit.log")"; finish
fi
t0=$(date +%s)
# shellcheck disable=SC2086
wait_jobs $ids
left=$(not_completed $ids)
if [ "$left" = "[kd-tiny_experiment-maps task 2: FAILED (NonZeroExitCode): slurm-check: task 2 of maps fails once, on purpose] [kd-tiny_experiment-finish task : CANCELLED (DependencyNeverSatisfied)] " ]; then
    pass "every task completed but maps task 2 (failed on purpose); the final job was cancelled ($(( $(date +%s) - t0 )) s)"; else
    fail "after the first submission, expected only maps task 2 failed and the final job cancelled, got: ${left:-everything completed}"; finish; fi
t0=$(date +%s)
if (cd "$WORK" && bash "$SHARDED/slurm/submit.sh" maps 2) >"$WORK/resubmit.log" 2>&1; then
    cat "$WORK/resubmit.log" >&2
    again=$(awk 'NF == 2 && $2 ~ /^[0-9]+$/ { print $2 }' "$WORK/resubmit.log")
else
    fail "submit.sh maps 2: $(tail -3 "$WORK/resubmit.log")"; finish
fi
# shellcheck disable=SC2086
if [ "$(echo "$again" | wc -w)" -eq 2 ] && wait_jobs $again; then pass "submit.sh maps 2: task 2 of maps again, then the final job, completed ($(( $(date +%s) - t0 )) s)"; else
    fail "submit.sh maps 2: $(not_completed $again)"; finish; fi
task_logs=$(find "$SHARDED/slurm/logs" -name '*.log' | wc -l)
[ "$task_logs" -eq 14 ] && pass "14 log files (3 arrays of 4 tasks, maps task 2 again, the final job)" || fail "$task_logs log files in $SHARDED/slurm/logs, expected 14"

t0=$(date +%s)
if "$KD" experiment run "$EXP" --output "$UNSHARDED" >"$WORK/unsharded.log" 2>&1; then pass "unsharded run ($(( $(date +%s) - t0 )) s)"; else
    fail "unsharded run: $(tail -5 "$WORK/unsharded.log")"; finish; fi

# Every entropy map, ordered by key; doubles with 17 significant digits (exact), BLOBs in hex.
dump() {
    sqlite3 "$1/results.sqlite" "SELECT run, network, tap, settings_hash, epoch, input_id, unit_count, hex(entropies),
        hex(foreground), printf('%.17e', sigma_f2), printf('%.17e', final_loss), printf('%.17e', alpha), chosen_step,
        printf('%.17e', mean_entropy), loss_flattened, target_reached
        FROM entropy_maps ORDER BY run, network, tap, settings_hash, epoch, input_id"
}
for f in experiment.csv experiment.txt; do
    if [ -s "$UNSHARDED/$f" ] && cmp -s "$UNSHARDED/$f" "$SHARDED/$f"; then pass "$f identical"; else
        fail "$f differs: $(diff "$UNSHARDED/$f" "$SHARDED/$f" 2>&1 | head -4 | tr '\n' ' ')"; fi
done
for seed in 1 2; do
    s="seed-$seed"
    if cmp -s "$UNSHARDED/$s/table5.csv" "$SHARDED/$s/table5.csv"; then pass "$s/table5.csv identical"; else
        fail "$s/table5.csv differs: $(diff "$UNSHARDED/$s/table5.csv" "$SHARDED/$s/table5.csv" 2>&1 | head -4 | tr '\n' ' ')"; fi
    dump "$UNSHARDED/$s" >"$WORK/unsharded-$seed.maps" 2>&1
    dump "$SHARDED/$s" >"$WORK/sharded-$seed.maps" 2>&1
    maps=$(wc -l <"$WORK/unsharded-$seed.maps")
    if [ "$maps" -gt 0 ] && cmp -s "$WORK/unsharded-$seed.maps" "$WORK/sharded-$seed.maps"; then pass "$s: all $maps entropy maps identical"; else
        fail "$s: entropy maps differ ($maps unsharded, $(wc -l <"$WORK/sharded-$seed.maps") sharded): $(diff "$WORK/unsharded-$seed.maps" "$WORK/sharded-$seed.maps" | head -2 | cut -c1-200 | tr '\n' ' ')"; fi
    [ -s "$SHARDED/$s/report.html" ] && pass "$s/report.html written by the final job" || fail "no $s/report.html"
    "$KD" report "$UNSHARDED/$s" >>"$WORK/unsharded.log" 2>&1   # as the final job did for the sharded run
    "$KD" status "$UNSHARDED/$s" 2>&1 | sed "s|$UNSHARDED|DIR|g" >"$WORK/unsharded-$seed.status"
    "$KD" status "$SHARDED/$s" 2>&1 | sed "s|$SHARDED|DIR|g" >"$WORK/sharded-$seed.status"
    if [ -s "$WORK/unsharded-$seed.status" ] && cmp -s "$WORK/unsharded-$seed.status" "$WORK/sharded-$seed.status"; then
        pass "$s: kd-tool status says the same of both runs ($(tail -1 "$WORK/sharded-$seed.status" | cut -c1-60)…)"; else
        fail "$s: kd-tool status differs: $(diff "$WORK/unsharded-$seed.status" "$WORK/sharded-$seed.status" | head -4 | tr '\n' ' ')"; fi
done

echo "slurm-check: total $(( $(date +%s) - start )) s" >&2
finish
