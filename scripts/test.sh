#!/usr/bin/env bash
# Sets up everything the tests need on a fresh Debian machine with Node (npm packages,
# and Debian packages such as redis-server), then runs them.
# Extra arguments go to tap (for example: npm test -- test/routes).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
bash scripts/ensure-system.sh
npx prettier --check src test bench
npx tsc --noEmit -p .
npx tap "$@"
