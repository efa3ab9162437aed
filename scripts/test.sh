#!/usr/bin/env bash
# Sets up, then runs every check: format, lints, Rust tests, and the black-box
# interop suite (official socket.io-client against the real server binary).
set -euo pipefail
cd "$(dirname "$0")/.."
# Reuse a build cache outside the clone when there is one.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/huddle-target}"

bash scripts/setup.sh

echo "== UI: lint, type-check, unit tests, build"
# Built first: the app embeds ui/dist.
(cd ui && npm run lint && npm run typecheck && npm test && npm run build)

echo "== cargo fmt"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
# The CLI tests run the real binaries: build them all first.
cargo build --workspace --locked
cargo test --workspace --locked
# The app with its UI inside, as installers ship it, for the end-to-end tests.
cargo build -p huddle-app --features custom-protocol --locked
echo "== interop and end-to-end tests (socket.io-client, Chromium, the app under Xvfb)"
export HUDDLE_SERVER_BIN="$CARGO_TARGET_DIR/debug/huddle-server"
export HUDDLE_BIN="$CARGO_TARGET_DIR/debug/huddle"
export HUDDLE_APP_BIN="$CARGO_TARGET_DIR/debug/huddle-app"
# Built by `cargo test` (examples are): the lab's Janus tests drive Janus through it.
export HUDDLE_JANUS_DRIVER_BIN="$CARGO_TARGET_DIR/debug/examples/janus_driver"
(cd tests && npm test)
echo "== the server's room suites again, clients spread over 3 nodes sharing Redis"
(cd tests && npm run test:cluster)
