#!/usr/bin/env bash
# Several nodes over Redis vs one: the load generator (load.mjs) against
#   1. one node, no Redis (rooms in memory, chat in SQLite: the single-node default),
#   2. one node with --redis,
#   3. two nodes with --redis, clients round-robin over them: every relay pair spans
#      the two nodes (pairs are consecutive clients), so relay latency is cross-node.
# For the Redis runs: Redis operations per relayed message (INFO commandstats over the
# join+relay run, divided by the relays; joins included) and Redis's own CPU.
# Then 10,000 idle connections held across 2 nodes.
#
#   bash bench/server/cluster.sh [extra load.mjs args]
#
# HUDDLE_SERVER_BIN overrides the binary (default: target/release/huddle-server).
# Results: bench/server/results/cluster-<UTC timestamp>/.
set -uo pipefail
cd "$(dirname "$0")"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ -d node_modules/socket.io-client ] || npm ci --no-audit --no-fund

BIN="${HUDDLE_SERVER_BIN:-$(cd ../.. && pwd)/target/release/huddle-server}"
OUT="results/cluster-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"
DATA="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$DATA"
}
trap cleanup EXIT

free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

RPORT="$(free_port)"
redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$DATA" --appendonly yes \
  --appendfsync always --save "" --daemonize no > "$OUT/redis.log" 2>&1 &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
until redis-cli -p "$RPORT" ping >/dev/null 2>&1; do sleep 0.1; done
rcli() { redis-cli -p "$RPORT" "$@"; }

# Starts a node; prints "url pid".
node_up() { # $1: log file, rest: extra flags
  local log="$1"; shift
  "$BIN" --listen 127.0.0.1:0 --db :memory: --max-connections 20000 "$@" > "$log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  local url=""
  for _ in $(seq 100); do
    url="$(grep -o 'listening on http://[0-9.:]*' "$log" | head -1 | cut -d' ' -f3)"
    [ -n "$url" ] && break
    sleep 0.1
  done
  echo "$url $pid"
}

run() { # $1: name, $2: urls, $3: pids, rest: load.mjs args
  local name="$1" urls="$2" pids="$3"; shift 3
  node --max-old-space-size=4096 load.mjs --url "$urls" --pid "$pids" --name "$name" \
    --json "$OUT/$name.json" --log-dir "$OUT" "$@" 2>&1 | tee "$OUT/$name.txt"
}

redis_calls() { rcli info commandstats | awk -F'[=,:]' '/^cmdstat_/ { n += $3 } END { print n+0 }'; }
redis_cpu() { rcli info cpu | awk -F: '/used_cpu_(sys|user):/ { s += $2 } END { printf "%.3f", s }'; }

echo "machine: $(nproc) cores, loadavg $(cut -d' ' -f1-3 /proc/loadavg), $("$BIN" --version)"
for mode in single redis1 redis2; do
  rcli flushall >/dev/null
  urls=(); pids=()
  case "$mode" in
    single) read -r u p < <(node_up "$OUT/$mode-node0.log"); urls+=("$u"); pids+=("$p") ;;
    redis1) read -r u p < <(node_up "$OUT/$mode-node0.log" --redis "redis://127.0.0.1:$RPORT"); urls+=("$u"); pids+=("$p") ;;
    redis2)
      for i in 0 1; do
        read -r u p < <(node_up "$OUT/$mode-node$i.log" --redis "redis://127.0.0.1:$RPORT")
        urls+=("$u"); pids+=("$p")
      done ;;
  esac
  sleep 1
  rcli config resetstat >/dev/null
  cpu0="$(redis_cpu)"
  run "$mode" "$(IFS=,; echo "${urls[*]}")" "$(IFS=,; echo "${pids[*]}")" --phases join,relay "$@"
  calls="$(redis_calls)"; cpu1="$(redis_cpu)"
  relays="$(node -e "const j=require('./$OUT/$mode.json'); console.log(j.phases.relay?.deliveredAllRounds ?? 0)")"
  echo "$mode: $relays relays; redis: $calls calls ($(awk -v c="$calls" -v r="$relays" 'BEGIN{printf "%.2f", r ? c/r : 0}') per relay, joins included), cpu $(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN{printf "%.2f", b-a}') s" | tee -a "$OUT/redis.txt"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  sleep 3
done

echo "== 10,000 idle connections across 2 nodes"
rcli flushall >/dev/null
urls=(); pids=()
for i in 0 1; do
  read -r u p < <(node_up "$OUT/idle-node$i.log" --redis "redis://127.0.0.1:$RPORT")
  urls+=("$u"); pids+=("$p")
done
sleep 1
run idle2 "$(IFS=,; echo "${urls[*]}")" "$(IFS=,; echo "${pids[*]}")" --phases idle --idle-clients 10000 "$@"
echo "results: $OUT"
