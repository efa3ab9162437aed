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
  # tests: a sound server with a null sink, and Chromium as the browser peer
  pulseaudio pulseaudio-utils chromium xvfb xauth
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
fi

if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found; install Rust 1.94 or newer (https://rustup.rs) and run again" >&2
  exit 1
fi

for dir in tests bench/server; do
  if [ -f "$dir/package-lock.json" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done
