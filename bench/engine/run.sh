#!/usr/bin/env bash
# Media engine benchmark (issue 4): Huddle vs Chromium, 640x480@30 VP8 on loopback, four
# directions side by side in one run (see run.mjs for what is measured and how).
#
#   bash bench/engine/run.sh [run.mjs args, e.g. --reps 3 --duration 20]
#
# Uses the release binaries (target/release/huddle and huddle-server); builds them first when
# missing or when BUILD=1. HUDDLE_BIN / HUDDLE_SERVER_BIN override them.
# QUIET_WAIT=seconds (default 120, 0 = don't wait): wait up to that long for 5 s in which the
# machine is less than 0.5 of a core busy before starting (the machine is shared).
# Results: bench/engine/results/<UTC timestamp>/{results.json,table.md,output.txt}.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$ROOT"

export HUDDLE_BIN="${HUDDLE_BIN:-$ROOT/target/release/huddle}"
export HUDDLE_SERVER_BIN="${HUDDLE_SERVER_BIN:-$ROOT/target/release/huddle-server}"
if [ "${BUILD:-0}" = 1 ] || [ ! -x "$HUDDLE_BIN" ] || [ ! -x "$HUDDLE_SERVER_BIN" ]; then
  cargo build --release -p huddle-engine --bin huddle -p huddle-server || exit 1
fi
[ -d tests/node_modules/playwright-core ] && [ -d tests/node_modules/socket.io-client ] || (cd tests && npm ci --no-audit --no-fund) || exit 1

. "$ROOT/bench/lib/quiet.sh"

OUT="$HERE/results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"
{
  echo "date: $(date -u +%FT%TZ)"
  echo "machine: $(nproc) cores, $(uname -r), node $(node --version), $(/usr/lib/chromium/chromium --version 2>/dev/null || chromium --version 2>/dev/null)"
  echo "huddle: $HUDDLE_BIN ($("$HUDDLE_BIN" --version 2>/dev/null), built $(date -u -r "$HUDDLE_BIN" +%FT%TZ), sha256 $(sha256sum "$HUDDLE_BIN" | cut -c1-16))"
  echo "huddle-server: $HUDDLE_SERVER_BIN (built $(date -u -r "$HUDDLE_SERVER_BIN" +%FT%TZ))"
  echo "git: $(git rev-parse --short HEAD) ($(git status --porcelain -- engine server | wc -l) changed files under engine/ server/)"
  [ "${QUIET_WAIT:-120}" = 0 ] || wait_quiet
} 2>&1 | tee "$OUT/output.txt"
node "$HERE/run.mjs" --out "$OUT" "$@" 2>&1 | tee -a "$OUT/output.txt"
rc="${PIPESTATUS[0]}"
echo "results: $OUT (rc $rc)"
exit "$rc"
