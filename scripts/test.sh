#!/usr/bin/env bash
# Sets up everything the tests need on a fresh Debian machine with Node 20, then runs them.
# Extra arguments go to tap (for example: npm test -- test/routes).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
npx prettier --check src test bench
npx tsc --noEmit -p .
npx tap "$@"
