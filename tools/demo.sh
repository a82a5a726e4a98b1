#!/usr/bin/env bash
# Sets everything up and shows drfwd balancing: builds it, generates client traffic
# for a two-RS round-robin service, runs drfwd over net_pcap, and prints what went
# where. Usage: tools/demo.sh
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/tools/build.sh" "$top/build"
work=$(mktemp -d /tmp/drfwd-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT

cat > "$work/drfwd.conf" <<'CONF'
# The ipvsadm lines an LVS operator would write, plus the neighbours' MACs.
port 0 address 198.18.0.2/24
ipvsadm -A -t 198.18.1.10:80 -s rr
ipvsadm -a -t 198.18.1.10:80 -r 198.18.0.11:80 -g
ipvsadm -a -t 198.18.1.10:80 -r 198.18.0.12:80 -g
neigh add 198.18.0.11 02:00:00:00:00:11
neigh add 198.18.0.12 02:00:00:00:00:12
CONF
echo "== configuration"; cat "$work/drfwd.conf"

/usr/bin/python3 - "$work/in.pcap" <<'PY'
import sys
from scapy.all import IP, TCP, Ether, Raw, wrpcap
e = Ether(src="02:00:00:00:01:01", dst="02:70:63:61:70:00")
pkts = []
for i in range(10):
    ip = IP(src="198.18.2.%d" % (i + 1), dst="198.18.1.10")
    pkts += [e / ip / TCP(sport=40000 + i, dport=80, flags="S"),
             e / ip / TCP(sport=40000 + i, dport=80, flags="PA") / Raw(b"GET / HTTP/1.1\r\n\r\n")]
pkts.append(e / IP(src="198.18.2.1", dst="198.18.1.10") / TCP(sport=1, dport=22, flags="S"))
wrpcap(sys.argv[1], pkts)
PY

echo "== running drfwd over net_pcap (10 clients, 2 packets each, 1 to an unserved port)"
# shellcheck disable=SC2046  # the preset expands to several words
"$top/build/app/drfwd" $("$top/tools/eal-args" pcap IN="$work/in.pcap" OUT="$work/out.pcap") \
  --log-level lib.eal:warning -- \
  -f "$work/drfwd.conf" --stats-json "$work/stats.json" --conn-table-size 4096 --idle-backoff 200 \
  > "$work/drfwd.out" 2> "$work/drfwd.err" &
pid=$!
sleep 2
kill -INT "$pid"
wait "$pid"
sed -n '/Final statistics/,$p' "$work/drfwd.out"

echo "== forwarded frames (client -> RS chosen by round robin)"
/usr/bin/python3 - "$work/out.pcap" <<'PY'
import sys
from scapy.all import IP, TCP, Ether, rdpcap
rs = {"02:00:00:00:00:11": "RS1 198.18.0.11", "02:00:00:00:00:12": "RS2 198.18.0.12"}
for p in rdpcap(sys.argv[1]):
    print("  %-15s:%-5d %-2s -> %s (dst MAC %s, src MAC %s)" % (p[IP].src, p[TCP].sport, p[TCP].flags,
          rs.get(p[Ether].dst, "?"), p[Ether].dst, p[Ether].src))
PY
