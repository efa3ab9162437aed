#!/usr/bin/env bash
# Sets up and builds Huddle, starts the signaling server on 127.0.0.1:4100 and joins
# room 1234 as a participant with the `huddle` CLI until Ctrl-C. Options are passed to
# `huddle join` (e.g. --email, --room, --camera, --mic, --speaker, --share). On a
# machine without a camera, microphone or speaker the synthetic ones are chosen
# explicitly here (and said so), since the CLI itself never falls back silently.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/huddle-target}"
bash scripts/setup.sh
cargo build --release --locked -p huddle-server -p huddle-engine
bin="$CARGO_TARGET_DIR/release"

"$bin/huddle-server" --listen "${HUDDLE_LISTEN:-127.0.0.1:4100}" &
server=$!
trap 'kill $server 2>/dev/null' EXIT
for _ in $(seq 50); do
  curl -fs "http://${HUDDLE_LISTEN:-127.0.0.1:4100}/healthz" >/dev/null && break
  sleep 0.1
done

devices=$("$bin/huddle" devices 2>/dev/null || true)
defaults=()
if [[ " $* " != *" --camera "* ]] && grep -A1 '^cameras:' <<<"$devices" | grep -q 'none found'; then
  echo "run: no camera here: using the synthetic test pattern (--camera test)"; defaults+=(--camera test)
fi
if [[ " $* " != *" --mic "* ]] && grep -A1 '^microphones:' <<<"$devices" | grep -q 'none found\|unavailable'; then
  echo "run: no microphone here: using a 440 Hz tone (--mic sine)"; defaults+=(--mic sine)
fi
if [[ " $* " != *" --speaker "* ]] && grep -A1 '^speakers:' <<<"$devices" | grep -q 'none found\|unavailable'; then
  echo "run: no speaker here: remote audio is not played (--speaker none)"; defaults+=(--speaker none)
fi
echo "run: others join with: $bin/huddle join --server http://${HUDDLE_LISTEN:-127.0.0.1:4100} --email EMAIL --room 1234"
[[ " $* " == *" --email "* ]] || defaults+=(--email "${HUDDLE_EMAIL:-$(id -un)@$(hostname)}")
[[ " $* " == *" --room "* ]] || defaults+=(--room 1234)
[[ " $* " == *" --server "* ]] || defaults+=(--server "http://${HUDDLE_LISTEN:-127.0.0.1:4100}")
"$bin/huddle" join "${defaults[@]}" "$@"
