#!/usr/bin/env bash
# Installs the Debian packages the tests run for real when they are missing:
#   redis-server   the Redis session store
#   chromium       browser flows (driven by playwright-core)
#   nginx, caddy   forward-auth behind real front proxies
#   tigervnc-standalone-server, websockify, novnc, x11-apps
#                  a real noVNC workspace behind Gatehouse (as Kasm streams desktops)
# Needs root and apt-get, as on CI and a fresh Debian machine; elsewhere it says what to
# install and stops.
set -euo pipefail
needed=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }
have redis-server || needed+=(redis-server)
have chromium || needed+=(chromium)
have nginx || needed+=(nginx)
have caddy || needed+=(caddy)
have Xvnc || needed+=(tigervnc-standalone-server)
have websockify || needed+=(websockify)
[ -f /usr/share/novnc/vnc.html ] || needed+=(novnc)
have xclock || needed+=(x11-apps)
[ ${#needed[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "the tests need: ${needed[*]} (install them with your package manager, as root)" >&2
  exit 1
fi
echo "installing ${needed[*]} (apt-get)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null
