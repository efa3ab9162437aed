#!/usr/bin/env bash
# Writes a ready-to-run Janus configuration for Huddle into a folder: the three .jcfg files
# of this directory with their @PLACEHOLDERS@ filled in, and the plugin and transport
# folders holding one symlink each. Then run: janus -C OUT/janus.jcfg -F OUT
#
#   render.sh --out DIR --api-secret S --admin-key K --ice-address IP_OR_IFACE
#             [--public-ip IP] [--ws-ip 127.0.0.1] [--ws-port 8188]
#             [--rtp-ports 20000-20999] [--session-timeout 60] [--lib-dir DIR]
#
# --lib-dir: where Debian's janus package keeps its modules (found by default).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

out="" api_secret="" admin_key="" ice="" public_ip="" ws_ip="127.0.0.1" ws_port=8188
rtp_ports="20000-20999" session_timeout=60 lib_dir=""
die() { echo "render.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || die "$1 needs a value"
  case "$1" in
    --out) out="$2" ;;
    --api-secret) api_secret="$2" ;;
    --admin-key) admin_key="$2" ;;
    --ice-address) ice="$2" ;;
    --public-ip) public_ip="$2" ;;
    --ws-ip) ws_ip="$2" ;;
    --ws-port) ws_port="$2" ;;
    --rtp-ports) rtp_ports="$2" ;;
    --session-timeout) session_timeout="$2" ;;
    --lib-dir) lib_dir="$2" ;;
    *) die "unknown option $1" ;;
  esac
  shift 2
done
[ -n "$out" ] || die "--out is required"
[ -n "$api_secret" ] || die "--api-secret is required"
[ -n "$admin_key" ] || die "--admin-key is required"
[ -n "$ice" ] || die "--ice-address is required (the address Janus gathers candidates on)"
[[ "$rtp_ports" =~ ^[0-9]+-[0-9]+$ ]] || die "--rtp-ports must be MIN-MAX"
[[ "$session_timeout" =~ ^[0-9]+$ ]] || die "--session-timeout must be seconds"
[[ "$ws_port" =~ ^[0-9]+$ ]] || die "--ws-port must be a port number"
# Values land inside "…" in the config: refuse what would break out of it.
for v in "$out" "$api_secret" "$admin_key" "$ice" "$public_ip" "$ws_ip"; do
  [[ "$v" != *'"'* && "$v" != *'\'* && "$v" != *'|'* && "$v" != *$'\n'* ]] || die "values may not contain \" \\ | or newlines"
done
if [ -z "$lib_dir" ]; then
  for d in /usr/lib/*/janus /usr/lib/janus /usr/local/lib/janus /opt/janus/lib/janus; do
    if [ -e "$d/plugins/libjanus_videoroom.so" ]; then lib_dir="$d"; break; fi
  done
  [ -n "$lib_dir" ] || die "Janus's modules not found (install Debian's janus, or pass --lib-dir)"
fi
for f in "$lib_dir/plugins/libjanus_videoroom.so" "$lib_dir/transports/libjanus_websockets.so"; do
  [ -e "$f" ] || die "$f is missing"
done

mkdir -p "$out"
out="$(cd "$out" && pwd)"
mkdir -p "$out/plugins" "$out/transports" "$out/events" "$out/loggers"
ln -sfn "$lib_dir/plugins/libjanus_videoroom.so" "$out/plugins/libjanus_videoroom.so"
ln -sfn "$lib_dir/transports/libjanus_websockets.so" "$out/transports/libjanus_websockets.so"

# sed replacement text: & means "the match", so escape it.
esc() { printf '%s' "$1" | sed -e 's/&/\\&/g'; }
render() {
  local public_line='#nat_1_1_mapping = "@PUBLIC_IP@"'
  sed -e "s|@OUT@|$(esc "$out")|g" -e "s|@API_SECRET@|$(esc "$api_secret")|g" \
      -e "s|@ADMIN_KEY@|$(esc "$admin_key")|g" -e "s|@ICE_ADDRESS@|$(esc "$ice")|g" \
      -e "s|@WS_IP@|$(esc "$ws_ip")|g" -e "s|@WS_PORT@|$ws_port|g" \
      -e "s|@RTP_PORTS@|$rtp_ports|g" -e "s|@SESSION_TIMEOUT@|$session_timeout|g" \
      ${public_ip:+-e "s|$public_line|nat_1_1_mapping = \"$(esc "$public_ip")\"|"} \
      "$here/$1" > "$out/$1"
  chmod 600 "$out/$1"
}
render janus.jcfg
render janus.plugin.videoroom.jcfg
render janus.transport.websockets.jcfg
echo "janus -C $out/janus.jcfg -F $out"
