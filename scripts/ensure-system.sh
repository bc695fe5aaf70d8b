#!/usr/bin/env bash
# Installs the Debian packages the tests run for real (redis-server for the Redis
# session store) when they are missing. Needs root and apt-get, as on CI and a fresh
# Debian machine; elsewhere it says what to install and stops.
set -euo pipefail
needed=()
command -v redis-server >/dev/null 2>&1 || needed+=(redis-server)
[ ${#needed[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "the tests need: ${needed[*]} (install them with your package manager, as root)" >&2
  exit 1
fi
echo "installing ${needed[*]} (apt-get)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null
