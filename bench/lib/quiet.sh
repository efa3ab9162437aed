# Sourced by the benchmark scripts: how busy this (possibly shared) machine is, and waiting
# for it to be quiet before measuring.

busy_cores() { # whole-machine busy cores over $1 seconds, from /proc/stat
  local a b
  a=($(head -1 /proc/stat)); sleep "$1"; b=($(head -1 /proc/stat))
  local busy=$(( (b[1]+b[2]+b[3]+b[6]+b[7]+b[8]) - (a[1]+a[2]+a[3]+a[6]+a[7]+a[8]) ))
  awk -v t="$busy" -v s="$1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz / s }'
}

# wait_quiet [WAIT MAX_CORES POLL]: waits up to QUIET_WAIT seconds (default WAIT, 120) for
# 5 s in which less than MAX_CORES (0.5) of the machine is busy, polling every POLL s (10).
wait_quiet() {
  local deadline=$(( SECONDS + ${QUIET_WAIT:-${1:-120}} )) max="${2:-0.5}" poll="${3:-10}" c
  while :; do
    c=$(busy_cores 5)
    if awk -v c="$c" -v m="$max" 'BEGIN { exit !(c < m) }'; then echo "machine quiet: $c cores busy over 5 s"; return; fi
    if [ "$SECONDS" -ge "$deadline" ]; then echo "WARNING: machine busy ($c cores over 5 s); measuring anyway (noisy; compare side by side)"; return; fi
    echo "waiting for a quieter machine: $c cores busy over 5 s"; sleep "$poll"
  done
}
