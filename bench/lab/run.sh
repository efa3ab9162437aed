#!/usr/bin/env bash
# The issue-13 network matrix: Huddle and Chromium calls on capped and lossy links, side by side
# in the network lab (see run.mjs for what is measured and how). Needs root.
#
#   bash bench/lab/run.sh [run.mjs args, e.g. --seconds 20 --conditions none,300k --pairs HH]
#
# Also in this folder (same lab, same env, run with node as root): sfu.mjs (issue 16, mesh vs
# SFU) and ice.mjs (issue 12: join → first frame and the relay's glass-to-glass cost, Huddle
# and Chromium side by side, STUN vs TURN): `node bench/lab/ice.mjs --reps 3 --seconds 8`.
#
# Binaries: HUDDLE_BIN / HUDDLE_SERVER_BIN, default $CARGO_TARGET_DIR/debug/… (the engine's dev
# profile is optimized), built when missing or when BUILD=1.
# QUIET_WAIT=seconds (default 120, 0 = don't wait): wait up to that long for 5 s in which the
# machine is less than 0.5 of a core busy before starting (the machine may be shared).
# Results: bench/lab/results/<UTC timestamp>/{results.json,table.md,output.txt}.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$ROOT"

TARGET="${CARGO_TARGET_DIR:-$HOME/.cache/huddle-target}"
export HUDDLE_BIN="${HUDDLE_BIN:-$TARGET/debug/huddle}"
export HUDDLE_SERVER_BIN="${HUDDLE_SERVER_BIN:-$TARGET/debug/huddle-server}"
if [ "${BUILD:-0}" = 1 ] || [ ! -x "$HUDDLE_BIN" ] || [ ! -x "$HUDDLE_SERVER_BIN" ]; then
  CARGO_TARGET_DIR="$TARGET" cargo build -p huddle-engine --bin huddle -p huddle-server || exit 1
fi
command -v turnserver >/dev/null && command -v nft >/dev/null || bash scripts/setup.sh || exit 1
[ -d tests/node_modules/playwright-core ] || (cd tests && npm ci --no-audit --no-fund) || exit 1

. "$ROOT/bench/lib/quiet.sh"

OUT="$HERE/results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"
{
  echo "date: $(date -u +%FT%TZ)"
  echo "machine: $(nproc) cores, $(uname -r), node $(node --version), $(chromium --version 2>/dev/null), $(turnserver --version 2>/dev/null | head -1)"
  echo "huddle: $HUDDLE_BIN (built $(date -u -r "$HUDDLE_BIN" +%FT%TZ), sha256 $(sha256sum "$HUDDLE_BIN" | cut -c1-16))"
  echo "huddle-server: $HUDDLE_SERVER_BIN (built $(date -u -r "$HUDDLE_SERVER_BIN" +%FT%TZ))"
  echo "git: $(git rev-parse --short HEAD) ($(git status --porcelain -- engine server | wc -l) changed files under engine/ server/)"
  [ "${QUIET_WAIT:-120}" = 0 ] || wait_quiet
} 2>&1 | tee "$OUT/output.txt"
node "$HERE/run.mjs" --out "$OUT" "$@" 2>&1 | tee -a "$OUT/output.txt"
rc="${PIPESTATUS[0]}"
echo "results: $OUT (rc $rc)"
exit "$rc"
