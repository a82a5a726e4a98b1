#!/usr/bin/env bash
# Prepares a NIC for drfwd: loads vfio-pci, binds the NIC to it with DPDK's
# dpdk-devbind.py, reserves hugepages with dpdk-hugepages.py, and prints the lines to
# put in /etc/default/drfwd. dpdk-devbind.py and dpdk-hugepages.py come with Debian's
# dpdk package. Installed by the package as /usr/share/drfwd/setup-nic.sh.
#
#   setup-nic.sh [--dry-run] [--hugepages SIZE] [--pagesize SIZE] DEVICE...
#       DEVICE: a PCI address (0000:03:00.0 or 03:00.0) or an interface name (eth1).
#       --hugepages SIZE  to reserve on each NUMA node (default 1G; 0: none), --pagesize 2M or 1G
#   setup-nic.sh [--dry-run] --restore DRIVER DEVICE...
#       give the devices back to a kernel driver (e.g. ixgbe, i40e, virtio-pci)
#   setup-nic.sh --status        what is bound to what (dpdk-devbind.py --status-dev net)
#
# --dry-run prints the commands instead of running them (no root, no NIC needed).
# NVIDIA ConnectX (mlx5) is not bound: its DPDK driver works next to the kernel's.
# Binding takes the NIC away from the kernel: never the one you are logged in through.
set -euo pipefail
prog=setup-nic.sh
devbind=${DPDK_DEVBIND:-dpdk-devbind.py}

usage() {
  sed -n '7,17s/^# \{0,1\}//p' "$0" >&2
  exit 2
}
die() { echo "$prog: $*" >&2; exit 1; }

dry=0
hugepages=1G
pagesize=2M
restore=""
status=0
devices=()
while [ $# -gt 0 ]; do
  case $1 in
    --dry-run) dry=1; shift ;;
    --hugepages) [ $# -ge 2 ] || usage; hugepages=$2; shift 2 ;;
    --pagesize) [ $# -ge 2 ] || usage; pagesize=$2; shift 2 ;;
    --restore) [ $# -ge 2 ] || usage; restore=$2; shift 2 ;;
    --status) status=1; shift ;;
    -h|--help) usage ;;
    -*) echo "$prog: unknown option $1" >&2; usage ;;
    *) devices+=("$1"); shift ;;
  esac
done

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 not found: apt install dpdk"
}

# Runs a command, or prints it with --dry-run.
run() {
  if [ $dry -eq 1 ]; then
    echo "would run: $*"
  else
    echo "+ $*"
    "$@"
  fi
}

if [ $status -eq 1 ]; then
  need "$devbind"
  exec "$devbind" --status-dev net
fi

[ ${#devices[@]} -gt 0 ] || usage
if [ $dry -eq 0 ]; then
  [ "$(id -u)" -eq 0 ] || die "must run as root (or try --dry-run)"
  need "$devbind"
fi

# DEVICE -> full PCI address (domain included).
pci_of() {
  local d=$1
  if [ -e "/sys/class/net/$d/device" ]; then
    # The PCI device itself, or its parent (virtio-net: .../0000:00:03.0/virtio2).
    local p
    p=$(readlink -f "/sys/class/net/$d/device")
    while [ "$p" != / ]; do
      if [[ $(basename "$p") =~ ^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$ ]]; then
        basename "$p"
        return
      fi
      p=$(dirname "$p")
    done
    die "$d: no PCI device found under /sys/class/net/$d/device"
  fi
  if [ -e "/sys/class/net/$d" ]; then
    die "$d has no PCI device (a virtual interface?): drfwd reaches it with --vdev net_af_packet0,iface=$d --no-huge (docs/install.md)"
  fi
  case $d in
    [0-9a-fA-F][0-9a-fA-F][0-9a-fA-F][0-9a-fA-F]:[0-9a-fA-F][0-9a-fA-F]:[0-9a-fA-F][0-9a-fA-F].[0-7])
      echo "$d" | tr 'A-F' 'a-f' ;;
    [0-9a-fA-F][0-9a-fA-F]:[0-9a-fA-F][0-9a-fA-F].[0-7])
      echo "0000:$d" | tr 'A-F' 'a-f' ;;
    *) die "$d: neither an interface on this machine nor a PCI address (0000:03:00.0)" ;;
  esac
}

# The kernel driver a PCI device is bound to now ("" if none or unknown).
driver_of() {
  local link=/sys/bus/pci/devices/$1/driver
  [ -e "$link" ] && basename "$(readlink -f "$link")" || true
}

addrs=()
for d in "${devices[@]}"; do
  a=$(pci_of "$d")
  if [ ! -e "/sys/bus/pci/devices/$a" ]; then
    [ $dry -eq 1 ] || die "$d: no PCI device $a on this machine (dpdk-devbind.py --status-dev net lists them)"
    echo "$prog: note: $a is not on this machine (dry run: going on)"
  fi
  addrs+=("$a")
done

if [ -n "$restore" ]; then
  for a in "${addrs[@]}"; do
    run "$devbind" --bind="$restore" "$a"
  done
  echo "$prog: ${addrs[*]} given back to $restore; remove them from DRFWD_EAL_ARGS in /etc/default/drfwd"
  exit 0
fi

bind=()
notes=()
for a in "${addrs[@]}"; do
  drv=$(driver_of "$a")
  case $drv in
    vfio-pci) notes+=("$a is already bound to vfio-pci") ;;
    mlx5_core) notes+=("$a (mlx5_core): not bound; DPDK's mlx5 driver works next to the kernel's (bifurcated)") ;;
    *)
      bind+=("$a")
      [ -z "$drv" ] || notes+=("$a was on $drv: setup-nic.sh --restore $drv $a gives it back")
      ;;
  esac
done

if [ ${#bind[@]} -gt 0 ]; then
  if [ ! -d /sys/kernel/iommu_groups ] || [ -z "$(ls -A /sys/kernel/iommu_groups 2>/dev/null)" ]; then
    notes+=("no IOMMU groups: vfio-pci needs the IOMMU on (intel_iommu=on or amd_iommu=on on the kernel command line; in a VM without a vIOMMU: echo 1 > /sys/module/vfio/parameters/enable_unsafe_noiommu_mode)")
  fi
  run modprobe vfio-pci
  run "$devbind" --bind=vfio-pci "${bind[@]}"
fi

case $hugepages in
  0|none|"") hugepages="" ;;
  *)
    # The unit's own step (installed, or in the source tree): dpdk-hugepages.py, and the
    # right mount for the size.
    hp=/usr/libexec/drfwd/drfwd-hugepages
    [ -x "$hp" ] || hp=$(cd "$(dirname "$0")/.." && pwd)/debian/drfwd-hugepages
    run env DRFWD_HUGEPAGES="$hugepages" DRFWD_HUGEPAGE_SIZE="$pagesize" sh "$hp"
    ;;
esac

for n in "${notes[@]}"; do echo "$prog: note: $n"; done

allow=""
for a in "${addrs[@]}"; do allow+=" -a $a"; done
cat <<EOT

# For /etc/default/drfwd (the lcores: the first is the control core, each other a worker):
DRFWD_EAL_ARGS="-l 0,1$allow"
DRFWD_HUGEPAGES="$hugepages"
DRFWD_HUGEPAGE_SIZE="$pagesize"
# then: systemctl enable --now drfwd   (docs/install.md)
EOT
