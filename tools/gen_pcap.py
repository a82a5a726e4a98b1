#!/usr/bin/env python3
"""Writes a pcap of TCP or UDP packets to one VIP from many distinct flows, fast
(no scapy): for benchmarks and floods.

  gen_pcap.py OUT.pcap --flows N [--size 70] [--vip 198.18.1.10] [--port 80]
              [--dst-mac 02:70:63:61:70:00] [--proto tcp|udp] [--flags S|A|PA]
              [--packets-per-flow K] [--seed S] [--random-sources]

Flow i comes from source 198.18.128.0/17 + (i / 16384) with source port 1024 + i % 16384
(or a random address in 198.18.128.0/17 with --random-sources), so every packet
stays inside 198.18.0.0/15.
"""
import argparse
import random
import struct
import sys


def ip_checksum(hdr):
    s = sum(struct.unpack("!10H", hdr))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def l4_checksum(src, dst, proto, seg):
    pseudo = src + dst + struct.pack("!BBH", 0, proto, len(seg))
    data = pseudo + seg + (b"\0" if len(seg) % 2 else b"")
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def mac_bytes(m):
    return bytes(int(x, 16) for x in m.split(":"))


def ip_bytes(a):
    return bytes(int(x) for x in a.split("."))


PCAP_HEADER = struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1)
RECORD = struct.Struct("<IIII")


def frame(eth, src, dst, sport, dport, proto="tcp", flags=2, seq=1, ident=0, body=b"", l4_csum=True):
    """One Ethernet/IPv4/TCP-or-UDP frame. eth: 14 header bytes; src: int; dst: 4 bytes.
    l4_csum=False leaves the TCP/UDP checksum 0 (faster; drfwd does not read it)."""
    l4len = 20 if proto == "tcp" else 8
    srcb = struct.pack("!I", src)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + l4len + len(body), ident & 0xffff, 0, 64,
                      6 if proto == "tcp" else 17, 0, srcb, dst)
    hdr = hdr[:10] + struct.pack("!H", ip_checksum(hdr)) + hdr[12:]
    if proto == "tcp":
        l4 = struct.pack("!HHIIBBHHH", sport, dport, seq, 1, 5 << 4, flags, 65535, 0, 0)
        ck_off = 16
    else:
        l4 = struct.pack("!HHHH", sport, dport, 8 + len(body), 0)
        ck_off = 6
    seg = l4 + body
    if l4_csum:
        ck = l4_checksum(srcb, dst, 6 if proto == "tcp" else 17, seg)
        seg = seg[:ck_off] + struct.pack("!H", ck) + seg[ck_off + 2:]
    return eth + hdr + seg


def frame6(eth, src, dst, sport, dport, proto="tcp", flags=2, seq=1, body=b""):
    """One Ethernet/IPv6/TCP-or-UDP frame (hop limit 64, checksum 0: drfwd does not read
    it). src, dst: 16 bytes."""
    l4len = 20 if proto == "tcp" else 8
    hdr = struct.pack("!IHBB16s16s", 6 << 28, l4len + len(body), 6 if proto == "tcp" else 17, 64, src, dst)
    if proto == "tcp":
        l4 = struct.pack("!HHIIBBHHH", sport, dport, seq, 1, 5 << 4, flags, 65535, 0, 0)
    else:
        l4 = struct.pack("!HHHH", sport, dport, 8 + len(body), 0)
    return eth + hdr + l4 + body


class PcapWriter:
    def __init__(self, path):
        self.f = open(path, "wb")
        self.f.write(PCAP_HEADER)
        self.n = 0

    def write(self, fr):
        self.f.write(RECORD.pack(self.n // 1000000, self.n % 1000000, len(fr), len(fr)))
        self.f.write(fr)
        self.n += 1

    def close(self):
        self.f.close()


def flag_bits(flags):
    return sum({"F": 1, "S": 2, "R": 4, "P": 8, "A": 16}[c] for c in flags.upper())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--flows", type=int, required=True)
    ap.add_argument("--size", type=int, default=70, help="frame length without FCS (>= 54 for TCP)")
    ap.add_argument("--vip", default="198.18.1.10")
    ap.add_argument("--port", type=int, default=80)
    ap.add_argument("--dst-mac", default="02:70:63:61:70:00")
    ap.add_argument("--src-mac", default="02:00:00:00:01:01")
    ap.add_argument("--proto", choices=("tcp", "udp"), default="tcp")
    ap.add_argument("--flags", default="A", help="TCP flags: any of S A P F R")
    ap.add_argument("--packets-per-flow", type=int, default=1)
    ap.add_argument("--random-sources", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--ipv6", action="store_true",
                    help="IPv6 (the VIP defaults to 2001:2::100, clients in 2001:2:8000::/48)")
    a = ap.parse_args()

    l4len = 20 if a.proto == "tcp" else 8
    payload = a.size - 14 - (40 if a.ipv6 else 20) - l4len
    if payload < 0:
        sys.exit("gen_pcap: --size too small")
    flags = flag_bits(a.flags)
    if a.ipv6:
        import ipaddress
        eth = mac_bytes(a.dst_mac) + mac_bytes(a.src_mac) + b"\x86\xdd"
        vip = ipaddress.IPv6Address(a.vip if ":" in a.vip else "2001:2::100").packed
        net6 = int(ipaddress.IPv6Address("2001:2:8000::"))
        rng = random.Random(a.seed)
        out = PcapWriter(a.out)
        body = bytes(payload)
        for rep in range(a.packets_per_flow):
            for i in range(a.flows):
                if a.random_sources:
                    src, sport = net6 + rng.randrange(1, 1 << 15), rng.randrange(1024, 65536)
                else:
                    src, sport = net6 + 1 + i // 16384, 1024 + i % 16384
                out.write(frame6(eth, src.to_bytes(16, "big"), vip, sport, a.port, a.proto, flags, 1 + rep, body))
        out.close()
        return
    eth = mac_bytes(a.dst_mac) + mac_bytes(a.src_mac) + b"\x08\x00"
    dst = ip_bytes(a.vip)
    rng = random.Random(a.seed)
    base = struct.unpack("!I", ip_bytes("198.18.128.0"))[0]
    out = PcapWriter(a.out)
    body = bytes(payload)
    for rep in range(a.packets_per_flow):
        for i in range(a.flows):
            if a.random_sources:
                src = base + rng.randrange(1, 1 << 15)
                sport = rng.randrange(1024, 65536)
            else:
                src = base + 1 + i // 16384
                sport = 1024 + i % 16384
            out.write(frame(eth, src, dst, sport, a.port, a.proto, flags, 1 + rep, i + rep, body))
    out.close()


if __name__ == "__main__":
    main()
