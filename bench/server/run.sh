#!/usr/bin/env bash
# Signaling-server load benchmark: huddle-server (release) and the Node.js socket.io 4
# baseline (node-server.mjs) run one after the other with identical load, then a
# side-by-side table.
#
#   bash bench/server/run.sh [extra load.mjs args, e.g. --idle-clients 2000]
#
# HUDDLE_SERVER_BIN overrides the binary (default: target/release/huddle-server).
# SKIP_NODE=1 runs only huddle-server; SKIP_HUDDLE=1 only the Node baseline.
# Results: bench/server/results/<UTC timestamp>/{huddle,node}.{json,txt}, table.md, server logs.
set -uo pipefail
cd "$(dirname "$0")"

# 10,000 client sockets live in one Node process (and 10,000 server-side sockets in the
# server, which inherits this limit).
if ! ulimit -n 65536 2>/dev/null; then
  ulimit -n "$(ulimit -Hn)"
fi
echo "ulimit -n = $(ulimit -n)"

[ -d node_modules/socket.io-client ] && [ -d node_modules/socket.io ] || npm ci --no-audit --no-fund

BIN="${HUDDLE_SERVER_BIN:-$(cd ../.. && pwd)/target/release/huddle-server}"
OUT="results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"
NODE_FLAGS=(--max-old-space-size=4096)
rc=0

# The machine is shared (2 cores; others compile Rust): wait, up to QUIET_WAIT seconds
# (default 900, 0 = don't wait), for 5 s in which other processes use < 0.3 of a core.
. ../lib/quiet.sh

echo "machine: $(nproc) cores, $(uname -r), node $(node --version), loadavg $(cut -d' ' -f1-3 /proc/loadavg)"

if [ -z "${SKIP_HUDDLE:-}" ]; then
  if [ -x "$BIN" ]; then
    echo "== huddle-server: $BIN ($("$BIN" --version 2>/dev/null), built $(date -u -r "$BIN" +%FT%TZ), sha256 $(sha256sum "$BIN" | cut -c1-16))"
    wait_quiet 900 0.3 25
    node "${NODE_FLAGS[@]}" load.mjs --server-bin "$BIN" --name huddle --json "$OUT/huddle.json" --log-dir "$OUT" "$@" 2>&1 | tee "$OUT/huddle.txt"
    [ "${PIPESTATUS[0]}" = 0 ] || rc=1
  else
    echo "FAIL: huddle-server binary not found at $BIN (build it with cargo build --release, or set HUDDLE_SERVER_BIN)"
    rc=1
  fi
  sleep 5 # let sockets in TIME_WAIT and the machine settle
fi

if [ -z "${SKIP_NODE:-}" ]; then
  echo "== node-server.mjs (socket.io $(node -p 'require("./node_modules/socket.io/package.json").version'))"
  wait_quiet 900 0.3 25
  node "${NODE_FLAGS[@]}" load.mjs --node-server --name node --json "$OUT/node.json" --log-dir "$OUT" "$@" 2>&1 | tee "$OUT/node.txt"
  [ "${PIPESTATUS[0]}" = 0 ] || rc=1
fi

echo
echo "== results ($OUT)"
node report.mjs "$OUT/huddle.json" "$OUT/node.json" | tee "$OUT/table.md"
[ "$rc" = 0 ] && echo "run.sh: PASS" || echo "run.sh: FAIL (see above)"
exit "$rc"
