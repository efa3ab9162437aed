#!/usr/bin/env bash
# Builds release binaries (the app with its UI inside) and runs the app benchmark.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/huddle-target}"
(cd ui && npm run build)
cargo build --release -p huddle-server -p huddle-engine
cargo build --release -p huddle-app --features custom-protocol
export HUDDLE_SERVER_BIN="$CARGO_TARGET_DIR/release/huddle-server"
export HUDDLE_BIN="$CARGO_TARGET_DIR/release/huddle"
export HUDDLE_APP_BIN="$CARGO_TARGET_DIR/release/huddle-app"
node bench/app/run.mjs
