#!/usr/bin/env bash
# Sets up, builds and runs the signaling server on 127.0.0.1:4100 (chat kept in the
# platform's data directory). Extra arguments go to huddle-server; see --help.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/huddle-target}"
bash scripts/setup.sh
exec cargo run --release --locked -p huddle-server -- "$@"
