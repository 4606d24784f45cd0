#!/usr/bin/env bash
# Rebuilds the core into a temp dir and fails if the committed wasm/build/core.wasm or
# src/wasm/core.wasm.ts differ (CI: apt-get install emscripten node-acorn, then run this).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
bash "$here/build.sh" --out "$out"
status=0
cmp "$out/core.wasm" "$here/build/core.wasm" || { echo "wasm/build/core.wasm is stale: run npm run build:wasm" >&2; status=1; }
cmp "$out/core.wasm.ts" "$root/src/wasm/core.wasm.ts" || { echo "src/wasm/core.wasm.ts is stale: run npm run build:wasm" >&2; status=1; }
[[ $status == 0 ]] && echo "wasm core is up to date"
exit $status
