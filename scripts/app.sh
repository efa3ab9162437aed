#!/usr/bin/env bash
# Sets up, builds and opens the Huddle desktop app. With no server configured the app
# hosts the signaling server itself and shows the address others can join at. Options
# are passed to `huddle-app` (--server URL, --email, --room, --name, --join,
# --fake-devices, or a huddle://join?room=… link). On a machine without a camera the
# synthetic devices are chosen explicitly here (and said so).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/huddle-target}"
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "app: no display here (DISPLAY and WAYLAND_DISPLAY are unset)." >&2
  echo "app: run it on a desktop, under Xvfb (xvfb-run -a bash scripts/app.sh), or use the CLI: bash scripts/run.sh" >&2
  exit 1
fi
bash scripts/setup.sh
(cd ui && npm run build)
cargo build --release --locked -p huddle-engine
cargo build --release --locked -p huddle-app --features custom-protocol
bin="$CARGO_TARGET_DIR/release"

args=()
if [[ " $* " != *" --fake-devices "* ]] && "$bin/huddle" devices 2>/dev/null | grep -A1 '^cameras:' | grep -q 'none found'; then
  echo "app: no camera here: using the synthetic devices (--fake-devices)"; args+=(--fake-devices)
fi
exec "$bin/huddle-app" "${args[@]}" "$@"
