#!/usr/bin/env bash
# Install every Debian 12 package drfwd needs to build, test, benchmark and run its lab.
# Idempotent: packages already present are left alone. Run as root.
set -euo pipefail

packages=(
  # build
  build-essential pkg-config meson ninja-build
  dpdk dpdk-dev libdpdk-dev
  libboost-program-options-dev libspdlog-dev libfmt-dev libgtest-dev
  libsystemd-dev
  # sanitizers and fuzzing
  clang-14 libclang-rt-14-dev libfuzzer-14-dev
  # pcap and e2e tiers, lab, benchmarks
  python3 python3-scapy python3-pytest libpcap-dev
  iproute2 ethtool tcpdump iputils-ping iputils-arping procps
  nginx-light curl socat
  # the redundancy labs: VRRP (keepalived) and BGP + BFD (BIRD 2) on drfwd's kernel interfaces
  keepalived bird2
  # the appliance: the Debian package (tools/package.sh) and its checks, the metrics'
  # checks (promtool) and the Prometheus server the e2e lab scrapes drfwd with
  debhelper dpkg-dev lintian prometheus
)

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps.sh: must run as root (apt-get)" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps.sh: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"

# nginx-light's package starts a system nginx on :80 in the root namespace, bird2's a
# system BIRD, prometheus's a server on :9090 (keepalived's waits for
# /etc/keepalived/keepalived.conf). drfwd's labs run
# their own instances inside namespaces as plain processes, so keep the system ones stopped.
if command -v systemctl >/dev/null 2>&1; then
  for service in nginx bird keepalived prometheus; do
    if systemctl is-active --quiet "$service" 2>/dev/null; then
      systemctl stop "$service" || true
    fi
    if systemctl is-enabled --quiet "$service" 2>/dev/null; then
      systemctl disable "$service" 2>/dev/null || true
    fi
  done
fi
