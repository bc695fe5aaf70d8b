# Sourced by ensure-system.sh and ensure-bench.sh: `have CMD` tells whether a program is
# installed (sbin included, which a non-root PATH may lack), and `install_missing LABEL
# PACKAGE...` installs the Debian packages given, as root with apt-get, or says what to
# install and returns 1 where that cannot be done.

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }

install_missing() {
  local label="$1"
  shift
  [ $# -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "$label: no apt-get here; install these with your package manager: $*" >&2
    return 1
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "$label: not root, so nothing installed. As root: apt-get install $*" >&2
    return 1
  fi
  echo "$label: installing $* (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Services Debian starts on install are not used: tests and the bench run their own.
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
