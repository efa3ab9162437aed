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
# The CLI tests run the real binaries: build them all first.
cargo build --workspace --locked
cargo test --workspace --locked
echo "== interop tests (socket.io-client and Chromium against the real binaries)"
export HUDDLE_SERVER_BIN="$CARGO_TARGET_DIR/debug/huddle-server"
export HUDDLE_BIN="$CARGO_TARGET_DIR/debug/huddle"
(cd tests && npm test)
