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
source "$(dirname "$0")/apt-missing.sh"
needed=()
have redis-server || needed+=(redis-server)
have chromium || needed+=(chromium)
have nginx || needed+=(nginx)
have caddy || needed+=(caddy)
have Xvnc || needed+=(tigervnc-standalone-server)
have websockify || needed+=(websockify)
[ -f /usr/share/novnc/vnc.html ] || needed+=(novnc)
have xclock || needed+=(x11-apps)
install_missing ensure-system ${needed[@]+"${needed[@]}"}
