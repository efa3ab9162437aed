#!/usr/bin/env bash
# Installs what Huddle needs to build and test on Debian 12: system packages (only
# those missing), the Rust toolchain check, and the Node packages of tests/ and bench/.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential pkg-config curl ca-certificates git
  nodejs npm
  # engine: TLS for the signaling client, bindgen, codecs, audio, echo cancellation
  libssl-dev libclang-dev cmake nasm libvpx-dev libopus-dev libasound2-dev
  libwebrtc-audio-processing-dev
  # desktop app: the webview, its icons; WebDriver for its end-to-end tests
  libwebkit2gtk-4.1-dev librsvg2-dev webkit2gtk-driver
  # tests: a sound server with a null sink, and Chromium as the browser peer
  pulseaudio pulseaudio-utils chromium xvfb xauth
  # the app's single-instance test: a private D-Bus session bus (dbus-daemon --session)
  dbus-daemon dbus-session-bus-common
  # network lab (tests/lab, bench/lab): namespaces, veth and tc (iproute2), NAT and drops
  # (nftables), a STUN/TURN server (coturn), the SFU (janus: its VideoRoom plugin)
  iproute2 nftables coturn janus
  # server tests: a test CA (openssl), a look inside the chat database (sqlite3),
  # Redis for the multi-node tests (each test starts its own)
  openssl sqlite3 redis-server
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node from elsewhere (nvm, NodeSource) is fine: skip Debian's.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
  # The package starts a Janus with Debian's demo configuration (every plugin, open ports).
  # Tests and deployments run their own (deploy/janus/): keep the packaged one off.
  if printf '%s\n' "${missing[@]}" | grep -qx janus && command -v systemctl >/dev/null \
     && systemctl is-enabled janus >/dev/null 2>&1; then
    echo "setup: disabling the janus service Debian's package enabled (unused)"
    $sudo systemctl disable --now janus >/dev/null 2>&1 || true
  fi
  # Likewise Redis: the tests start their own on free ports.
  if printf '%s\n' "${missing[@]}" | grep -qx redis-server && command -v systemctl >/dev/null \
     && systemctl is-enabled redis-server >/dev/null 2>&1; then
    echo "setup: disabling the redis-server service Debian's package enabled (unused)"
    $sudo systemctl disable --now redis-server >/dev/null 2>&1 || true
  fi
fi

if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found; install Rust 1.94 or newer (https://rustup.rs) and run again" >&2
  exit 1
fi

# WebDriver for Tauri windows (the app's end-to-end tests).
if ! command -v tauri-driver >/dev/null && [ ! -x "$HOME/.cargo/bin/tauri-driver" ]; then
  echo "setup: installing tauri-driver"
  cargo install tauri-driver --version 2.1.0 --locked
fi

for dir in ui tests bench/server; do
  if [ -f "$dir/package-lock.json" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done
