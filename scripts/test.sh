#!/usr/bin/env bash
# Sets up, then runs every check: format, lints, Rust tests, and the black-box
# interop suite (official socket.io-client against the real server binary).
set -euo pipefail
cd "$(dirname "$0")/.."
# Reuse a build cache outside the clone when there is one.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/huddle-target}"

bash scripts/setup.sh

echo "== cargo fmt"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked
echo "== interop tests (socket.io-client against huddle-server)"
cargo build -p huddle-server --locked
export HUDDLE_SERVER_BIN="$CARGO_TARGET_DIR/debug/huddle-server"
(cd tests && npm test)
