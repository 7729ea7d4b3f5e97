#!/usr/bin/env bash
# The report in a real browser: makes a tiny run with the release kd-tool (a few seconds of training and
# analysis; b = 0.05 and no pinning so that even this run has knowledge points to draw), writes its coherency.json and
# report.html, renders the page with headless Chromium, and checks that the page's script ran without an
# error, that no console error was logged, that every table and chart is in the rendered DOM, and that the
# sort works. Saves a screenshot to Docs/report-screenshot.png. Installs Debian's chromium when missing.
#
#   Tools/scripts/report-check.sh            # KD_TOOL=path/to/kd-tool to use another binary
#   REPORT_CHECK_DIR=/tmp/x Tools/scripts/report-check.sh   # keep the run folder there
#
# Prints 'N passed, M failed' last; exits non-zero when anything failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
start=$(date +%s)
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok    $1"; }
bad() { failed=$((failed + 1)); echo "FAIL  $1"; }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
finish() { echo "report-check: $(( $(date +%s) - start )) s"; echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }

# --- chromium -------------------------------------------------------------------------------------------
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then
  echo "report-check: installing Debian's chromium" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
  CHROMIUM=$(command -v chromium || true)
fi
if [ -z "$CHROMIUM" ]; then bad "chromium is installed"; finish; fi
ok "chromium: $("$CHROMIUM" --version 2>/dev/null | head -1)"

# --- kd-tool --------------------------------------------------------------------------------------------
# KD_TOOL, or the release build when no source is newer than it (as after the test command), else build it.
KD=${KD_TOOL:-}
if [ -z "$KD" ]; then
  KD="$ROOT/.build/release/kd-tool"
  if [ ! -x "$KD" ] || [ -n "$(find Core Plugins Datasets Tools Package.swift -newer "$KD" -name '*.swift' -print -quit)" ]; then
    swift build -c release -Xswiftc -enable-testing --product kd-tool >/dev/null 2>&1 || { bad "swift build of kd-tool"; finish; }
  fi
fi
[ -x "$KD" ] || { bad "kd-tool binary at $KD"; finish; }

# --- a tiny run -----------------------------------------------------------------------------------------
WORK=${REPORT_CHECK_DIR:-$(mktemp -d /tmp/kd-report-check.XXXXXX)}
mkdir -p "$WORK"
OUT="$WORK/run"
RUN="$OUT/seed-1"   # analyze writes one study folder per seed (default seed 1) next to resolved.yaml
DATA="$WORK/composite.tgz"
if [ ! -e "$DATA" ]; then
  "$KD" dataset composite --output "$DATA" --option per-class=12 --option size=32 --option test-fraction=0.5 >"$WORK/dataset.log" 2>&1
  check "kd-tool dataset composite" '[ -e "$DATA" ]' || true
fi
if [ ! -f "$RUN/study.json" ]; then
  "$KD" analyze --data "$DATA" --output "$OUT" --option image-size=32 --option grid=8 \
    --teacher-epochs 4 --student-epochs 3 --stage2-epochs 1 --baseline-epochs 3 --inputs 4 --steps 40 \
    --noise-samples 4 --sigma-param log --no-pinning --threshold 0.05 --checkpoint-dense-up-to 3 >"$WORK/analyze.log" 2>&1
fi
check "kd-tool analyze wrote study.json" '[ -f "$RUN/study.json" ]'
check "kd-tool analyze wrote resolved.yaml" '[ -f "$OUT/resolved.yaml" ]'
[ -f "$RUN/study.json" ] || { tail -20 "$WORK/analyze.log"; finish; }
"$KD" coherency "$OUT" --data "$DATA" --inputs 2 >"$WORK/coherency.log" 2>&1
check "kd-tool coherency wrote coherency.json" '[ -f "$RUN/coherency.json" ]' || tail -5 "$WORK/coherency.log"
"$KD" status "$OUT" >"$WORK/status.log" 2>&1
check "kd-tool status says the run is complete" 'grep -q "the study is complete" "$WORK/status.log"'
"$KD" report "$OUT" >"$WORK/report.log" 2>&1
HTML="$RUN/report.html"
check "kd-tool report wrote report.html" '[ -s "$HTML" ]'
[ -s "$HTML" ] || { cat "$WORK/report.log"; finish; }
check "no external resources in the page" '! grep -Eq "(src|href)=\"https?:|<link |@import|<script src" "$HTML"'

# --- render ---------------------------------------------------------------------------------------------
FLAGS=(--headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run --disable-extensions
       --disable-background-networking --user-data-dir="$WORK/chromium-profile" --enable-logging=stderr --v=0)
timeout 120 "$CHROMIUM" "${FLAGS[@]}" --virtual-time-budget=3000 --dump-dom "file://$HTML" >"$WORK/dom.html" 2>"$WORK/chromium.err"
check "chromium rendered the page" '[ -s "$WORK/dom.html" ]'
check "the page's script ran (body data-script=ok)" 'grep -q "data-script=\"ok\"" "$WORK/dom.html"'
check "no script error caught by window.onerror" 'grep -q "<div id=\"report-errors\" data-kind=\"errors\"></div>" "$WORK/dom.html"'
check "no console message or uncaught error in chromium's log" '! grep -Eq "Uncaught|:CONSOLE" "$WORK/chromium.err"'
for id in provenance settings table5 accuracy hypotheses counts fig4 fig2 fig5 coherency pictures notes; do
  check "section #$id rendered" 'grep -q "<section id=\"$id\"" "$WORK/dom.html"'
done
for id in table5-table accuracy-table hypotheses-table counts-table settings-table pictures-table coherency-table \
          fig4-student fig4-baseline fig4-lambda fig2-scatter; do
  check "#$id rendered" 'grep -q "id=\"$id\"" "$WORK/dom.html"'
done
check "the COMPOSITE banner is shown" 'grep -q "<b>COMPOSITE</b>" "$WORK/dom.html"'
check "Fig. 5 draws detours (dot matrices)" 'grep -q "data-kind=\"dot-matrix\"" "$WORK/dom.html"'
check "coherency maps drawn" 'grep -q "data-kind=\"unit-map\"" "$WORK/dom.html"'
npics=$(grep -o "data:image/png;base64," "$WORK/dom.html" | wc -l)
check "4 pictures embedded (found $npics)" '[ "$npics" -eq 4 ]'

# Sorting: #sort=s-lambda orders the picture rows by S's λ, descending.
timeout 120 "$CHROMIUM" "${FLAGS[@]}" --virtual-time-budget=3000 --dump-dom "file://$HTML#sort=s-lambda" >"$WORK/dom-sorted.html" 2>>"$WORK/chromium.err"
python3 - "$WORK/dom-sorted.html" <<'EOF' && ok "sorting by S λ orders the rows (descending)" || bad "sorting by S λ orders the rows (descending)"
import re, sys
dom = open(sys.argv[1]).read()
values = [float(v) for v in re.findall(r'<tr data-order="\d+" data-s-nfg="[^"]*" data-s-lambda="([^"]*)"', dom)]
sys.exit(0 if len(values) == 4 and values == sorted(values, reverse=True) and 'class="on">S λ' in dom else 1)
EOF

# --- screenshot -----------------------------------------------------------------------------------------
SHOT="${KD_REPORT_SCREENSHOT:-$ROOT/Docs/report-screenshot.png}"   # CI writes it elsewhere
timeout 120 "$CHROMIUM" "${FLAGS[@]}" --hide-scrollbars --virtual-time-budget=3000 --window-size=1280,2400 \
  --screenshot="$WORK/screenshot.png" "file://$HTML" >/dev/null 2>>"$WORK/chromium.err"
check "screenshot taken" '[ -s "$WORK/screenshot.png" ]'
[ -s "$WORK/screenshot.png" ] && cp "$WORK/screenshot.png" "$SHOT"
echo "run folder: $RUN"
finish
