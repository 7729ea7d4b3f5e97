#!/usr/bin/env bash
# Times kd-tool's benchmark workloads (Docs/Benchmarks.md) against the PyTorch reference script for the same
# workloads, interleaved on the same machine: for each round, e1 kd-tool, e1 PyTorch, e2 kd-tool, e2 PyTorch, …
# so both see the same background load. Prints per round and workload both figures, the ratio and the
# share of the CPU other processes used while each ran ("other-load", from /proc/stat minus the run's own CPU).
#
#   Tools/scripts/compare-torch.sh --torch-ref PATH/torch_ref.py --python PATH/python \
#       [--repeats N] [--rounds R] [--steps T] [--workloads "e1 e2 e3 t1"] [--no-build] [--kd-tool PATH]
#       [--baseline "KD-TOOL BENCH OPTIONS"] [--log DIR]
#
# --steps T shortens e1–e3 to T σ steps in both tools (200, the standard, by default): on a busy machine a
# shorter run lets the interleaved rounds finish; the ratio per step is what is compared.
# --baseline also runs kd-tool with those bench options (e.g. "--convolution im2col") in every round, just
# before the default run, and prints its figure and ratio too: before/after figures under the same load.
#
# Ratios: e1–e3 are time ratios (kd-tool s/sample ÷ PyTorch s/sample; below 1 = kd-tool faster); t1 is a
# throughput ratio (kd-tool samples/s ÷ PyTorch samples/s; above 1 = kd-tool faster).
# A ratio whose other-load exceeds about 0.05 on either side is disturbed: re-run that round.
set -euo pipefail

ref="" py="" repeats=3 rounds=3 workloads="e1 e2 e3 t1" steps=200 build=1 logdir="" kd="" baseline=""
usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --torch-ref) ref="${2:?--torch-ref needs a path}"; shift 2 ;;
    --python) py="${2:?--python needs a path}"; shift 2 ;;
    --repeats) repeats="${2:?--repeats needs a number}"; shift 2 ;;
    --rounds) rounds="${2:?--rounds needs a number}"; shift 2 ;;
    --steps) steps="${2:?--steps needs a number}"; shift 2 ;;
    --workloads) workloads="${2:?--workloads needs a list}"; shift 2 ;;
    --no-build) build=0; shift ;;
    --kd-tool) kd="${2:?--kd-tool needs a path}"; build=0; shift 2 ;;
    --baseline) baseline="${2:?--baseline needs kd-tool bench options}"; shift 2 ;;
    --log) logdir="${2:?--log needs a directory}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "compare-torch.sh: unknown option '$1' (expected --torch-ref, --python, --repeats, --rounds, --steps, --workloads, --no-build, --kd-tool, --baseline, --log)" >&2; exit 2 ;;
  esac
done
[ -n "$ref" ] && [ -f "$ref" ] || { echo "compare-torch.sh: --torch-ref must name the PyTorch reference script (got '${ref}')" >&2; exit 2; }
[ -n "$py" ] && [ -x "$py" ] || { echo "compare-torch.sh: --python must name a Python with torch installed (got '${py}')" >&2; exit 2; }
case "$repeats$rounds$steps" in *[!0-9]*) echo "compare-torch.sh: --repeats, --rounds and --steps take whole numbers" >&2; exit 2 ;; esac
for w in $workloads; do
  case "$w" in e1|e2|e3|t1) ;; *) echo "compare-torch.sh: unknown workload '$w' (expected e1 e2 e3 t1)" >&2; exit 2 ;; esac
done
"$py" -c 'import torch' 2>/dev/null || { echo "compare-torch.sh: '$py' cannot import torch" >&2; exit 2; }

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
if [ "$build" = 1 ]; then swift build -c release >&2; fi
kd="${kd:-$(swift build -c release --show-bin-path)/kd-tool}"
[ -x "$kd" ] || { echo "compare-torch.sh: $kd not built (run without --no-build, or name a binary with --kd-tool)" >&2; exit 2; }
logdir="${logdir:-$(mktemp -d)}"; mkdir -p "$logdir"
echo "# logs in $logdir; repeats=$repeats rounds=$rounds steps(e1-e3)=$steps threads=2 (both tools); $(nproc) cores; $(date -u '+%F %T') UTC"
echo "# torch: $("$py" -c 'import torch; print(torch.__version__)')   kd-tool: $kd (tree $(git rev-parse --short HEAD)$(git diff --quiet || echo '+dirty'))${baseline:+   baseline: kd-tool bench W $baseline}"

# Runs a command, writes its output to $1 and prints "other-load" for the run as a whole:
# (machine busy CPU time − the command's own CPU time) ÷ (wall × cores).
metered() {
  local out="$1"; shift
  "$py" - "$out" "$@" <<'EOF'
import os, resource, subprocess, sys, time
def busy():
    v = [int(t) for t in open("/proc/stat").readline().split()[1:]]
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")
out, cmd = sys.argv[1], sys.argv[2:]
t0, b0 = time.perf_counter(), busy()
r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(out, "w") as fh:
    rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT).returncode
wall = time.perf_counter() - t0
r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
own = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
other = max(0.0, (busy() - b0 - own) / (wall * (os.cpu_count() or 1)))
print(f"{other:.2f} {os.getloadavg()[0]:.2f} {rc}")
EOF
}

# The figure a log holds: kd-tool's or PyTorch's, s/sample for e1–e3, samples/s for t1.
figure() {
  local w="$1" tool="$2" file="$3"
  case "$tool:$w" in
    kd:t1) sed -n 's/^t1: \([0-9.]*\) samples\/s.*/\1/p' "$file" ;;
    kd:*) sed -n "s/^$w: \([0-9.]*\) s\/sample.*/\1/p" "$file" ;;
    torch:t1) sed -n 's/^t1 vgg-s training: \([0-9.]*\) samples\/s.*/\1/p' "$file" ;;
    torch:*) sed -n "s/^$w [a-z-]*: median \([0-9.]*\) s per sample.*/\1/p" "$file" ;;
  esac
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
# One timed run with its other-load and 1-minute load average; fails the script on a bad exit or no figure.
run() {
  local label="$1" w="$2" tool="$3" out="$4"; shift 4
  local other load rc v
  read -r other load rc < <(metered "$out" "$@")
  [ "$rc" = 0 ] || { echo "compare-torch.sh: $label $w exited with $rc; see $out" >&2; exit 1; }
  v=$(figure "$w" "$tool" "$out")
  [ -n "$v" ] || { echo "compare-torch.sh: no figure for $label $w in $out" >&2; exit 1; }
  echo "$v $other $load"
}

if [ -n "$baseline" ]; then
  printf '%-5s %-3s %10s %10s %10s %7s %7s %9s %9s %9s %6s\n' round wl kd-tool PyTorch baseline ratio b-ratio kd-other pt-other b-other load1
else
  printf '%-5s %-3s %10s %10s %7s %9s %9s %6s\n' round wl kd-tool PyTorch ratio kd-other pt-other load1
fi
declare -A sum bsum cnt
for r in $(seq 1 "$rounds"); do
  for w in $workloads; do
    st=(); [ "$w" = t1 ] || st=(--steps "$steps")
    if [ -n "$baseline" ]; then
      # shellcheck disable=SC2086  # the baseline options are meant to split into words
      read -r bv bother bload < <(run baseline "$w" kd "$logdir/r$r-$w-baseline.txt" "$kd" bench "$w" --repeats "$repeats" "${st[@]}" $baseline)
    fi
    read -r kv kother kload < <(run kd-tool "$w" kd "$logdir/r$r-$w-kd.txt" "$kd" bench "$w" --repeats "$repeats" "${st[@]}")
    read -r tv tother tload < <(run PyTorch "$w" torch "$logdir/r$r-$w-torch.txt" "$py" "$ref" "$w" --repeats "$repeats" --threads 2 "${st[@]}")
    kr=$(ratio "$kv" "$tv")
    if [ -n "$baseline" ]; then
      br=$(ratio "$bv" "$tv")
      printf '%-5s %-3s %10s %10s %10s %7s %7s %9s %9s %9s %6s\n' "$r" "$w" "$kv" "$tv" "$bv" "$kr" "$br" "$kother" "$tother" "$bother" "$kload"
      bsum[$w]=$(awk -v s="${bsum[$w]:-0}" -v x="$br" 'BEGIN { print s + x }')
    else
      printf '%-5s %-3s %10s %10s %7s %9s %9s %6s\n' "$r" "$w" "$kv" "$tv" "$kr" "$kother" "$tother" "$kload"
    fi
    sum[$w]=$(awk -v s="${sum[$w]:-0}" -v x="$kr" 'BEGIN { print s + x }'); cnt[$w]=$(( ${cnt[$w]:-0} + 1 ))
  done
done
echo "# units: e1–e3 s/sample (ratio = time, kd-tool ÷ PyTorch; goal ≤ 0.7), t1 samples/s (ratio = throughput; goal ≥ 1.0)"
echo "# other-load: share of the machine's CPU used by other processes during that run (above ~0.05: disturbed)"
for w in $workloads; do
  awk -v w="$w" -v s="${sum[$w]}" -v b="${bsum[$w]:-}" -v n="${cnt[$w]}" \
    'BEGIN { printf "# mean ratio %s: %.3f over %d rounds", w, s / n, n; if (b != "") printf " (baseline %.3f)", b / n; print "" }'
done
