#!/usr/bin/env bash
# npm start: the demo on a fresh clone (installs npm packages first when needed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
exec node bin/gatehouse.js serve --config config.yaml
