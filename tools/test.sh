#!/usr/bin/env bash
# Sets everything up and runs the whole test suite (unit, pcap and, as root, e2e tiers).
# This is what .ci/run calls on a fresh clone. Usage: tools/test.sh
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/tools/build.sh" "$top/build"
meson test -C "$top/build" --print-errorlogs --num-processes 1
