#!/usr/bin/python3
"""Writes the seed corpora for the libFuzzer targets into tests/fuzz/corpus/.

The files are committed; rerun this after a grammar or packet-path change that
the seeds should cover (it overwrites the seed-* files and leaves files the
fuzzer added alone). Packet seeds use the framing fuzz_packet.cpp reads: each
frame is a 2-byte little-endian length followed by the frame, and the last
byte of the input chooses burst/one-by-one (bit 0) and the receiving port
(bit 1). Sync seeds are whole IPVS sync datagrams, laid out after the kernel's
structs (ip_vs_sync_mesg, ip_vs_sync_v4/v6, the options).
Usage: make_seeds.py [grammar|packet|sync ...]  (default: all three)
"""
import os
import socket
import struct
import sys

from scapy.all import (ARP, IP, TCP, UDP, Dot1Q, Ether, ICMP, IPOption_RR, Raw,
                       fragment)

HERE = os.path.dirname(os.path.abspath(__file__))
PORT0 = "02:70:63:61:70:00"
CLIENT = "02:00:00:00:00:99"
VIP, VIP2, VIP3 = "198.18.1.10", "198.18.1.11", "198.18.1.12"
DIP = "198.18.0.2"

GRAMMAR = {
    "native-basic": """port 0 address 198.18.0.2/24
vip add 198.18.1.10 tcp 80 sched rr
rs add 198.18.1.10 tcp 80 198.18.0.11 weight 3
rs add 198.18.1.10 tcp 80 198.18.0.12:80 weight 0
rs set 198.18.1.10 tcp 80 198.18.0.12 weight 7
rs del 198.18.1.10 tcp 80 198.18.0.11
vip del 198.18.1.10 tcp 80
""",
    "native-options": """vip add 198.18.1.10 udp 53 sched mh mh-size 251 flags sh-port,sh-fallback
vip add 198.18.1.11 tcp 443 sched sh persist 300 netmask 255.255.255.0
vip set 198.18.1.11 tcp 443 sched wrr persist 0
rs add 198.18.1.11 tcp 443 198.18.0.13 weight 65535 check http path /health expect 204 host lb.example
rs set 198.18.1.11 tcp 443 198.18.0.13 check tcp port 8443 interval 200ms timeout 1s rise 1 fall 5
vip add 198.18.1.12 tcp 8080 check none
""",
    "native-global": """set timeout tcp 900 tcpfin 120 udp 300
set check http path / expect 200 interval 500ms timeout 400ms rise 2 fall 3
neigh add 198.18.0.11 02:00:00:00:00:0b port 1
neigh del 198.18.0.11
port 1 address none
clear
""",
    "native-checks": """set check initial down
vip add 198.18.1.10 tcp 80 check exec interval 2s timeout 1s fall 2 command /usr/local/bin/probe --host 198.18.0.11 80
rs add 198.18.1.10 tcp 80 198.18.0.11 check initial up command test -f /run/up
rs set 198.18.1.10 tcp 80 198.18.0.11 check tcp port 8080 initial down
vip set 198.18.1.10 tcp 80 check http path /h
""",
    "ipvsadm-rules": """ipvsadm -A -t 198.18.1.10:80 -s rr
ipvsadm -a -t 198.18.1.10:80 -r 198.18.0.11:80 -g -w 1
ipvsadm -a -t 198.18.1.10:80 -r 198.18.0.12 -g
ipvsadm -e -t 198.18.1.10:80 -r 198.18.0.12:80 -g -w 5
ipvsadm -E -t 198.18.1.10:80 -s wlc
ipvsadm -E -t 198.18.1.10:80 -s mh -b mh-port
ipvsadm -d -t 198.18.1.10:80 -r 198.18.0.11
ipvsadm -D -t 198.18.1.10:80
ipvsadm -C
""",
    "ipvsadm-long": """ipvsadm --add-service --udp-service 198.18.1.10:53 --scheduler sh --persistent 60 --netmask 255.255.255.0
ipvsadm --add-server --udp-service 198.18.1.10:53 --real-server 198.18.0.11:53 --gatewaying --weight 2
ipvsadm -At 198.18.1.11:443 -s wrr -p
ipvsadm -at 198.18.1.11:443 -r 198.18.0.12:443 -m
ipvsadm -at 198.18.1.11:443 -r 198.18.0.12:443 -i
ipvsadm --set 900 120 300
ipvsadm -f 1 -A
""",
    "queries": """show vips
show rs 198.18.1.10 198.18.1.11
show stats
show ports
show neigh
show conns 198.18.1.10 limit 5
show config
save config /nonexistent/x
clear stats
set log-level debug
help
help rs add
help ipvsadm
ipvsadm -L -n --stats
ipvsadm -l --rate
ipvsadm -Ln --timeout
ipvsadm -L -n -c
ipvsadm -S -n
ipvsadm -Z
quit
""",
    "errors": """vip add 198.18.1.10 sctp 80
vip add 198.18.1.10 tcp 70000
vip add 300.1.1.1 tcp 80
vip add 198.18.1.10 tcp 80 sched lc
vip add 198.18.1.10 tcp 80 mh-size 100
rs add 198.18.1.10 tcp 80 198.18.0.11:81
rs add 198.18.1.10 tcp 80 198.18.0.11 weight -1
rs add 198.18.1.10 tcp 80 198.18.0.11 weight
neigh add 198.18.0.11 zz:00:00:00:00:00
port 9 address 198.18.0.2/33
ipvsadm -A -t 198.18.1.10 -s rr
ipvsadm -a -t 198.18.1.10:80
ipvsadm -A -t -u 198.18.1.10:80
ipvsadm --bogus
set timeout tcp 0 udp x
# comment only
\t  
show conns limit 0
frobnicate
""",
}


def tcp(sport, dport=80, flags="S", dst=VIP, payload=b""):
    return Ether(src=CLIENT, dst=PORT0) / IP(src=f"198.18.2.{sport % 250 + 1}", dst=dst) / \
        TCP(sport=sport, dport=dport, flags=flags) / Raw(payload)


def udp(sport, dport=53, dst=VIP, payload=b"q"):
    return Ether(src=CLIENT, dst=PORT0) / IP(src=f"198.18.2.{sport % 250 + 1}", dst=dst) / \
        UDP(sport=sport, dport=dport) / Raw(payload)


def icmp_about(client_frame, type_=3, code=4):
    """An ICMP error from a router to the VIP about the real server's reply to
    client_frame's connection (in DR the reply's source is the VIP)."""
    c = client_frame[IP]
    l4 = c.payload
    reply = IP(src=c.dst, dst=c.src) / l4.__class__(sport=l4.dport, dport=l4.sport) / Raw(b"r" * 1400)
    quoted = bytes(reply)[:28]
    return Ether(src=CLIENT, dst=PORT0) / IP(src="198.18.9.1", dst=c.dst) / \
        ICMP(type=type_, code=code, nexthopmtu=1400 if type_ == 3 else 0) / Raw(quoted)


def frame_bytes(f):
    return f if isinstance(f, bytes) else bytes(f)


def packet_seeds():
    big = udp(5000, payload=b"x" * 3000)
    frags = fragment(big[IP], fragsize=1200)
    frag_frames = [Ether(src=CLIENT, dst=PORT0) / f for f in frags]
    ok = tcp(1234)
    raw_ok = bytes(ok)
    seeds = {
        "tcp-conn": ([tcp(1000), tcp(1000, flags="A", payload=b"GET /"),
                      tcp(1000, flags="FA"), tcp(1000, flags="R")], 1),
        "tcp-many": ([tcp(2000 + i, dst=[VIP, VIP2][i % 2], dport=[80, 443][i % 2]) for i in range(16)], 1),
        "udp-mh": ([udp(3000 + i) for i in range(8)], 0),
        "no-service": ([tcp(4000, dport=81), udp(4001, dport=54), tcp(4002, dst=VIP3, dport=8080),
                        Ether(src=CLIENT, dst=PORT0) / IP(src="198.18.2.1", dst=VIP) / ICMP()], 1),
        "fragments": (frag_frames + [frag_frames[1]], 1),
        "arp": ([Ether(src=CLIENT, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, psrc="198.18.2.1", pdst=VIP),
                 Ether(src=CLIENT, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, psrc="198.18.2.1", pdst=DIP),
                 Ether(src="02:00:00:00:00:66", dst=PORT0) / ARP(op=2, psrc="198.18.0.11", pdst=DIP)], 0),
        "dip": ([Ether(src=CLIENT, dst=PORT0) / IP(src="198.18.2.1", dst=DIP) / ICMP(),
                 Ether(src=CLIENT, dst=PORT0) / IP(src="198.18.2.1", dst=DIP) / TCP(dport=22)], 1),
        "vlan-options": ([Ether(src=CLIENT, dst=PORT0) / Dot1Q(vlan=5) / IP(src="198.18.2.1", dst=VIP) / TCP(dport=80),
                          Ether(src=CLIENT, dst=PORT0) / IP(src="198.18.2.1", dst=VIP, options=[IPOption_RR()]) /
                          TCP(dport=80)], 1),
        "malformed": ([raw_ok[:13], raw_ok[:14], raw_ok[:33], raw_ok[:34 + 12],
                       raw_ok[:14] + bytes([0x44]) + raw_ok[15:],  # IHL 4
                       raw_ok[:14] + bytes([0x4f]) + raw_ok[15:],  # IHL 15 > frame
                       raw_ok[:16] + b"\xff\xff" + raw_ok[18:],  # total length beyond the frame
                       raw_ok[:16] + b"\x00\x10" + raw_ok[18:],  # total length below the headers
                       raw_ok[:46] + b"\x20" + raw_ok[47:],  # TCP data offset 2
                       raw_ok[:24] + b"\x00\x00" + raw_ok[26:],  # bad IP checksum
                       bytes(udp(6000))[:14] + bytes(IP(src="198.18.2.1", dst=VIP) / UDP(dport=53, len=0)),
                       Ether(src="ff:ff:ff:ff:ff:ff", dst=PORT0) / IP(src="198.18.2.1", dst=VIP) / TCP(dport=80),
                       Ether(src="01:00:5e:00:00:01", dst=PORT0) / IP(src="198.18.2.1", dst=VIP) / TCP(dport=80),
                       Ether(src=CLIENT, dst=PORT0) / ARP(op=1, hwlen=8, plen=4, psrc="198.18.2.1", pdst=VIP)], 1),
        "port1": ([tcp(7000), udp(7001)], 3),
        # ICMP errors about a real server's reply (from the VIP): after its connection,
        # unknown, and about a UDP reply.
        "icmp-errors": ([tcp(8000), icmp_about(tcp(8000)), icmp_about(tcp(8001)),
                         icmp_about(udp(8002), type_=11, code=0)], 1),
    }
    for name, (frames, tail) in seeds.items():
        out = b""
        for f in frames:
            b = frame_bytes(f)
            out += struct.pack("<H", len(b)) + b
        yield name, out + bytes([tail])


def sync_v4(proto=6, flags=0x3, state=1, cport=40000, vport=80, fwmark=0, timeout=900,
            caddr="198.18.2.1", opts=b"", type_=0, ver=0):
    addrs = b"".join(socket.inet_aton(a) for a in (caddr, VIP, "198.18.0.11"))
    return struct.pack("!BBHIHHHHII", type_, proto, ver << 12 | (36 + len(opts)), flags, state,
                       cport, vport, vport, fwmark, timeout) + addrs + opts


def sync_v6(opts=b""):
    addrs = b"".join(socket.inet_pton(socket.AF_INET6, a) for a in ("2001:db8::1", "2001:db8::a", "2001:db8::b"))
    return struct.pack("!BBHIHHHHII", 1, 6, 72 + len(opts), 0x3, 1, 40001, 443, 443, 0, 900) + addrs + opts


def sync_msg(entries, syncid=7, nr=None, tail=b""):
    """A v1 message: each entry after the first starts 4-aligned (the padding counts in
    the message's size only), the last is not padded."""
    body = b""
    for e in entries:
        body += b"\0" * (-len(body) % 4) + e
    body += tail
    n = len(entries) if nr is None else nr
    return struct.pack("!BBHBBH", 0, syncid, 8 + len(body), n, 1, 0) + body


def sync_seeds():
    seq = struct.pack("!BB6I", 1, 24, 0x11111111, 16, 0, 0x22222222, 0xfffffff0, 0)
    pe = bytes([2, 4, 1, 2, 3, 4, 3, 3]) + b"sip"
    return {
        "tcp-dr": sync_msg([sync_v4()]),
        "template": sync_msg([sync_v4(flags=0x1003, state=0, cport=0, timeout=300)]),
        "udp": sync_msg([sync_v4(proto=17, state=0, cport=5353, vport=53, fwmark=42, timeout=300)]),
        "v6-between": sync_msg([sync_v4(), sync_v6(), sync_v4(proto=17, state=0, vport=53)]),
        "seq-option": sync_msg([sync_v4(flags=0x600, opts=seq), sync_v4(), sync_v6(opts=seq)]),
        "pe-and-unknown": sync_msg([sync_v4(opts=pe), sync_v4(opts=bytes([5, 1, 0])),
                                    sync_v4(opts=bytes([0x45, 3, 1, 2, 3]) + seq)]),
        "full": sync_msg([sync_v4(cport=1000 + i) for i in range(255)]),
        "trailing": sync_msg([sync_v4()], tail=b"\xde\xad"),
        "version0": struct.pack("!BBHBBHHH", 1, 7, 28, 0, 6, 40000, 80, 80) +
                    socket.inet_aton("198.18.2.1") + socket.inet_aton(VIP) +
                    socket.inet_aton("198.18.0.11") + struct.pack("!HH", 3, 1),
        "refused": sync_msg([sync_v4(), sync_v4(ver=1), sync_v4(type_=2), sync_v4(opts=bytes([1, 23]) + b"x" * 23)],
                            nr=6),
    }


def main():
    which = set(sys.argv[1:]) or {"grammar", "packet", "sync"}
    if which - {"grammar", "packet", "sync"}:
        sys.exit(f"make_seeds.py: no such corpus: {' '.join(sorted(which - {'grammar', 'packet', 'sync'}))}")
    dirs = {k: os.path.join(HERE, "corpus", k) for k in which}
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)
    if "grammar" in which:
        for name, text in GRAMMAR.items():
            with open(os.path.join(dirs["grammar"], "seed-" + name), "w") as f:
                f.write(text.replace("\\t", "\t"))
        print(f"wrote {len(GRAMMAR)} grammar seeds to {dirs['grammar']}", file=sys.stderr)
    if "packet" in which:
        for name, data in packet_seeds():
            with open(os.path.join(dirs["packet"], "seed-" + name), "wb") as f:
                f.write(data)
    if "sync" in which:
        for name, data in sync_seeds().items():
            with open(os.path.join(dirs["sync"], "seed-" + name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
