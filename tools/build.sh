#!/usr/bin/env bash
# Installs the Debian packages drfwd needs (tools/install-deps.sh) and builds it in
# ./build (release). Idempotent. Usage: tools/build.sh [BUILD_DIR]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
if [ "$(id -u)" -eq 0 ]; then
  "$top/tools/install-deps.sh"
else
  echo "build.sh: not root, skipping package installation" >&2
fi
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" "$top" --buildtype=release
fi
ninja -C "$build"
