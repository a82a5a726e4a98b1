#!/usr/bin/env bash
# Sets everything up and runs the whole test suite. This is what .ci/run calls on a
# fresh clone. Usage: tools/test.sh [--quick]
#   1. build/      release build (g++): unit, pcap and, as root, e2e tiers
#   2. build-san/  clang, AddressSanitizer + UndefinedBehaviorSanitizer, libFuzzer:
#                  unit and pcap tiers again, then each fuzz target for a fixed number
#                  of inputs from its seed corpus
#   3. build-tsan/ clang, ThreadSanitizer: the thread tier (the worker/control
#                  hand-offs under real threads); only its test binary is built (the
#                  unit tier starts no thread: ThreadSanitizer has nothing to see there).
#                  Any report fails the test (halt_on_error).
# --quick runs step 1 only.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/tools/build.sh" "$top/build"
meson test -C "$top/build" --print-errorlogs --num-processes 1
[ "${1:-}" = "--quick" ] && exit 0

san=$top/build-san
if [ ! -f "$san/build.ninja" ]; then
  CC=clang-14 CXX=clang++-14 meson setup "$san" "$top" --buildtype=debugoptimized \
    -Db_sanitize=address,undefined -Dfuzz=true
fi
ninja -C "$san"
# The unit tier and the fuzz targets count inputs, not time: two at a time on two cores.
# The pcap tier runs drfwd with its own lcores: one at a time.
meson test -C "$san" --no-rebuild --print-errorlogs --num-processes 2 --suite unit --suite fuzz
meson test -C "$san" --no-rebuild --print-errorlogs --num-processes 1 --suite pcap

tsan=$top/build-tsan
if [ ! -f "$tsan/build.ninja" ]; then
  CC=clang-14 CXX=clang++-14 meson setup "$tsan" "$top" --buildtype=debugoptimized \
    -Db_sanitize=thread -Db_lundef=false
fi
ninja -C "$tsan" tests/threads/drfwd-thread-tests
TSAN_OPTIONS=halt_on_error=1 meson test -C "$tsan" --no-rebuild --print-errorlogs --num-processes 1 \
  --suite threads
