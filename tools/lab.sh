#!/usr/bin/env bash
# The labs: tools/lab.sh up|demo|status|down [--two-port|--vrrp|--ecmp [N]|--vlan|--ipv6] [--sync] (see tools/lab.py).
# "demo" also installs the packages and builds drfwd first.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
if [ "${1:-}" = "demo" ] || [ "${1:-}" = "up" ]; then
  "$top/tools/build.sh" "$top/build" >/dev/null
fi
exec /usr/bin/python3 "$top/tools/lab.py" "$@"
