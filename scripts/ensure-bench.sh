#!/usr/bin/env bash
# Installs the Debian packages `npm run bench` compares against or loads with, when missing:
#   nginx                          nginx as a plain reverse proxy
#   apache2, libapache2-mod-auth-openidc
#                                  Apache 2 with mod_auth_openidc, signed in
#   wrk                            the load client (autocannon is the fallback)
#   redis-server                   Gatehouse's Redis session store
#   util-linux                     taskset, to pin each contender to one core
# Needs root and apt-get. Elsewhere it says what to install and stops with status 1; the
# bench itself still runs and reports what is missing as skipped.
set -euo pipefail
source "$(dirname "$0")/apt-missing.sh"
needed=()
have nginx || needed+=(nginx)
have apache2 || needed+=(apache2)
[ -f /usr/lib/apache2/modules/mod_auth_openidc.so ] || needed+=(libapache2-mod-auth-openidc)
have wrk || needed+=(wrk)
have redis-server || needed+=(redis-server)
have taskset || needed+=(util-linux)
if ! install_missing ensure-bench ${needed[@]+"${needed[@]}"}; then
  echo "ensure-bench: (or run 'node --import tsx bench/run.ts' to bench without them: they are reported as skipped)" >&2
  exit 1
fi
