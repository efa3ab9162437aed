#!/usr/bin/env bash
# CPU profile of huddle-server under the load of one load.mjs phase (default: relay).
#   bash bench/server/profile.sh [relay|chat|join] [extra load.mjs args]
# Writes results/profile-<phase>-<time>/{perf.data,report.txt,syscalls.txt,load.txt}.
# Needs perf (and strace for the syscall counts). Does not build anything.
set -uo pipefail
cd "$(dirname "$0")"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
PHASE="${1:-relay}"; shift || true
BIN="${HUDDLE_SERVER_BIN:-$(cd ../.. && pwd)/target/release/huddle-server}"
OUT="results/profile-$PHASE-$(date -u +%Y%m%dT%H%M%SZ)"; mkdir -p "$OUT"
case "$PHASE" in
  relay) PHASES=join,relay ;;
  chat) PHASES=join,chat ;;
  join) PHASES=join ;;
  *) echo "unknown phase $PHASE"; exit 2 ;;
esac

run_server() {
  "$BIN" --listen 127.0.0.1:0 --db :memory: --rate-limit 0 --room-size 200 --log-format text 2>"$OUT/server.log" &
  SPID=$!
  for _ in $(seq 100); do grep -q "listening on" "$OUT/server.log" && break; sleep 0.1; done
  URL=$(grep -o 'listening on http://[0-9.:]*' "$OUT/server.log" | head -1 | cut -d' ' -f3)
}

# 1. perf profile over the whole run (the phase dominates it)
run_server
perf record -F 997 -g -p "$SPID" -o "$OUT/perf.data" 2>"$OUT/perf-record.log" &
PERF=$!
node load.mjs --url "$URL" --pid "$SPID" --phases "$PHASES" --idle-clients 0 --json "$OUT/load.json" --log-dir "$OUT" "$@" >"$OUT/load.txt" 2>&1
kill -INT "$PERF"; wait "$PERF"
kill "$SPID"; wait "$SPID" 2>/dev/null
perf report -i "$OUT/perf.data" --no-children --sort dso,symbol --percent-limit 0.7 --stdio 2>/dev/null | grep -v '^$' | head -120 >"$OUT/report.txt"
perf report -i "$OUT/perf.data" --no-children --sort dso --stdio 2>/dev/null | grep '%' >"$OUT/report-dso.txt"

# 2. syscall counts per relayed/delivered message (strace slows the server; counts stay valid)
if command -v strace >/dev/null; then
  run_server
  strace -c -f -p "$SPID" -o "$OUT/syscalls.txt" &
  ST=$!
  sleep 0.5
  node load.mjs --url "$URL" --pid "$SPID" --phases "$PHASES" --idle-clients 0 --join-rate 0 --json "$OUT/load-strace.json" --log-dir "$OUT" "$@" >"$OUT/load-strace.txt" 2>&1
  kill -INT "$ST"; wait "$ST" 2>/dev/null
  kill "$SPID"; wait "$SPID" 2>/dev/null
fi
# 3. Where one relay's server CPU goes, in µs: the perf shares times the measured CPU per
#    relay. The socket syscalls' share is the kernel's own work for the traffic (for a
#    loopback send that includes the receiving side's TCP processing), which no server
#    code can avoid: it is the floor for this machine.
if [ "$PHASE" = relay ]; then
  US=$(node -e "console.log(require('./$OUT/load.json').phases.relay.serverCpuUsPerRelay)")
  {
    echo "server CPU per relay: $US µs (perf run); split by perf samples:"
    perf report -i "$OUT/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null |
      awk -v us="$US" '/%/ { p = $1; sub("%", "", p); $1 = ""; printf "  %-34s %5.1f%%  %5.2f µs\n", $0, p, p * us / 100 }'
    perf report -i "$OUT/perf.data" --children --sort symbol --stdio -g none 2>/dev/null |
      awk -v us="$US" '$4 ~ /^__x64_sys_(sendto|recvfrom|epoll_wait|futex|writev|write)$/ {
        p = $1; sub("%", "", p); printf "  kernel, inside %-19s %5.1f%%  %5.2f µs\n", $4, p, p * us / 100 }'
  } >"$OUT/per-relay.txt"
fi

echo "profile in $OUT:"
grep -E "serverCpuUsPer|msgPerS|deliveriesPerS" "$OUT/load.txt"
[ -f "$OUT/per-relay.txt" ] && cat "$OUT/per-relay.txt"
head -40 "$OUT/report-dso.txt"
head -80 "$OUT/report.txt"
[ -f "$OUT/syscalls.txt" ] && head -25 "$OUT/syscalls.txt"
