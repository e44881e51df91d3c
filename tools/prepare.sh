#!/usr/bin/env bash
# Makes a checkout runnable: installs npm dependencies when node_modules is missing or older than
# package-lock.json, then compiles TypeScript to dist/. `npm run up` and `npm test` call it, so
# each is one command on a fresh clone. Servers are built on first use by tools/servers.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "[prepare] npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error --ignore-scripts
fi
npx tsc -p tsconfig.build.json
