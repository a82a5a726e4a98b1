"""pcap tier: hostile and malformed frames, interleaved with live connections.

Each bad frame must be dropped (or handed to the control core) under its documented
reason, must never reach a real server, and must not disturb the connections around
it: those keep flowing to the RS they started on.
"""
import struct
from collections import Counter, defaultdict

from scapy.all import (ARP, ICMP, IP, TCP, UDP, Dot1Q, Ether, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment,
                       IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, Raw)

import harness as h

VIP = "198.18.1.10"
RS = {"02:00:00:00:00:11": "198.18.0.11", "02:00:00:00:00:12": "198.18.0.12"}
CONF = ("port 0 address 198.18.0.2/24\n"
        "ipvsadm -A -t %s:80 -s rr\nipvsadm -a -t %s:80 -r 198.18.0.11\nipvsadm -a -t %s:80 -r 198.18.0.12\n"
        "ipvsadm -A -u %s:53 -s rr\nipvsadm -a -u %s:53 -r 198.18.0.11\nipvsadm -a -u %s:53 -r 198.18.0.12\n"
        "neigh add 198.18.0.11 02:00:00:00:00:11\nneigh add 198.18.0.12 02:00:00:00:00:12\n") % ((VIP,) * 6)
# With VLAN interface 10 on the port: frames tagged 10 are the port's; other VIDs are not.
CONF_VLAN = CONF + "port 0 vlan 10 address 198.18.10.2/24\n"

E = Ether(src=h.CLIENT_MAC, dst=h.PORT_MAC)
V6 = E / IPv6(src="2001:db8:2::1", dst="2001:db8::1")


def ip(**kw):
    d = dict(src="198.18.2.1", dst=VIP)
    d.update(kw)
    return IP(**d)


def raw_ip(pkt, **overrides):
    """Serialise an IP packet, then overwrite header bytes (checksum recomputed unless given)."""
    b = bytearray(bytes(pkt))
    for off, val in overrides.get("set", []):
        b[off] = val
    if overrides.get("fix_checksum", True):
        ihl = (b[0] & 0x0f) * 4
        b[10:12] = b"\0\0"
        s = sum(struct.unpack("!%dH" % (min(ihl, len(b)) // 2), bytes(b[:min(ihl, len(b)) // 2 * 2])))
        while s >> 16:
            s = (s & 0xffff) + (s >> 16)
        b[10:12] = struct.pack("!H", ~s & 0xffff)
    return bytes(b)


def frame(l3, eth=E):
    return bytes(eth)[:12] + b"\x08\x00" + l3


SYN = TCP(sport=5555, dport=80, flags="S")
# (description, frame, expected outcome: a drop reason, "control", or "forward")
BAD = [
    ("runt: 10 bytes", bytes(E)[:10], "runt"),
    ("ends inside the IPv4 header", bytes(E / ip() / SYN)[:14 + 12], "ip-truncated"),
    ("IHL 4", frame(raw_ip(ip() / SYN, set=[(0, 0x44)])), "ip-bad-ihl"),
    ("IHL 15 beyond a short frame", frame(raw_ip(ip() / UDP(sport=1, dport=53), set=[(0, 0x4f)])), "ip-bad-ihl"),
    ("total length beyond the frame", frame(raw_ip(ip(len=1400) / SYN)), "ip-bad-length"),
    ("total length below the header", frame(raw_ip(ip(len=12) / SYN)), "ip-bad-length"),
    ("total length far below the frame (no TCP header inside it)", frame(raw_ip(ip(len=24) / SYN)), "l4-truncated"),
    ("IP version 6 in an IPv4 frame", frame(raw_ip(ip() / SYN, set=[(0, 0x65)])), "ip-bad-version"),
    ("bad IPv4 header checksum", frame(raw_ip(ip(chksum=0x1234) / SYN, fix_checksum=False)), "ip-bad-checksum"),
    ("source 0.0.0.0", E / ip(src="0.0.0.0") / SYN, "ip-bad-src"),
    ("source 127.0.0.1", E / ip(src="127.0.0.1") / SYN, "ip-bad-src"),
    ("source multicast", E / ip(src="224.0.0.5") / SYN, "ip-bad-src"),
    ("source broadcast", E / ip(src="255.255.255.255") / SYN, "ip-bad-src"),
    ("TCP data offset 2", E / ip() / TCP(sport=5556, dport=80, flags="S", dataofs=2), "tcp-bad-doff"),
    ("TCP data offset past the segment", E / ip() / TCP(sport=5557, dport=80, flags="S", dataofs=15), "tcp-bad-doff"),
    ("TCP header cut short", frame(raw_ip(ip(len=30) / Raw(bytes(SYN)[:10]), set=[(9, 6)])), "l4-truncated"),
    ("zero-length UDP", E / ip() / UDP(sport=7, dport=53, len=0), "udp-bad-length"),
    ("UDP length beyond the datagram", E / ip() / UDP(sport=8, dport=53, len=900) / Raw(b"x"), "udp-bad-length"),
    ("tiny first fragment (TCP header split)", frame(raw_ip(ip(flags="MF", len=28, proto=6) / Raw(bytes(SYN)[:8]))),
     "l4-truncated"),
    ("orphan middle fragment", E / ip(flags="MF", frag=100, id=999, proto=17) / Raw(b"y" * 16), "frag-orphan"),
    ("orphan last fragment", E / ip(frag=200, id=998, proto=17) / Raw(b"z" * 16), "frag-orphan"),
    ("broadcast source MAC", Ether(src="ff:ff:ff:ff:ff:ff", dst=h.PORT_MAC) / ip() / SYN, "bad-src-mac"),
    ("multicast source MAC", Ether(src="01:00:5e:00:00:01", dst=h.PORT_MAC) / ip() / SYN, "bad-src-mac"),
    ("zero source MAC", Ether(src="00:00:00:00:00:00", dst=h.PORT_MAC) / ip() / SYN, "bad-src-mac"),
    ("unicast to another host's MAC", Ether(src=h.CLIENT_MAC, dst="02:00:00:00:00:99") / ip() / SYN, "not-our-mac"),
    ("VLAN-tagged, a VID the port does not have", Ether(src=h.CLIENT_MAC, dst=h.PORT_MAC) / Dot1Q(vlan=30) / ip() / SYN,
     "vlan-unknown"),
    ("802.1Q tag cut short: 16 bytes", bytes(E)[:12] + b"\x81\x00\x00\x0a", "runt"),
    ("tagged runt: the tag and half an EtherType", bytes(E)[:12] + b"\x81\x00\x00\x0a\x08", "runt"),
    ("an 802.1Q TPID and nothing more: 14 bytes", bytes(E)[:12] + b"\x81\x00", "runt"),
    ("two 802.1Q tags", E / Dot1Q(vlan=10) / Dot1Q(vlan=20) / ip() / SYN, "vlan-double"),
    ("802.1ad outer tag over an 802.1Q one", h.tagged(h.tagged(E / ip() / SYN, 10), 100, tpid=h.TPID_8021AD),
     "vlan-double"),
    ("802.1ad tag alone", h.tagged(E / ip() / SYN, 10, tpid=h.TPID_8021AD), "vlan-double"),
    ("priority tag over an 802.1Q tag", h.tagged(h.tagged(E / ip() / SYN, 10), 0), "vlan-double"),
    ("tagged, ends inside the IPv4 header", h.tagged(bytes(E / ip() / SYN)[:14 + 12], 10), "ip-truncated"),
    ("tagged, bad IPv4 header checksum", h.tagged(frame(raw_ip(ip(chksum=0x1234) / SYN, fix_checksum=False)), 10),
     "ip-bad-checksum"),
    ("priority-tagged, source broadcast", h.tagged(E / ip(src="255.255.255.255") / SYN, 0), "ip-bad-src"),
    ("tagged, to another address", h.tagged(E / ip(dst="198.18.1.11") / SYN, 10), "no-service"),
    ("IPv6", Ether(src=h.CLIENT_MAC, dst=h.PORT_MAC) / IPv6(dst="2001:db8::1") / TCP(dport=80), "no-service"),  # no IPv6 service for it
    ("IPv6 with extension headers", V6 / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / IPv6ExtHdrRouting() /
     IPv6ExtHdrFragment(m=1) / TCP(dport=80), "no-service"),
    ("IPv6 header cut short", bytes(E / IPv6(dst="2001:db8::1") / TCP(dport=80))[:14 + 30], "ip6-truncated"),
    ("IPv6 payload length beyond the frame", E / IPv6(dst="2001:db8::1", plen=200) / TCP(dport=80),
     "ip6-bad-length"),
    ("IPv6 version 4 in the header", E / IPv6(dst="2001:db8::1", version=4) / TCP(dport=80), "ip-bad-version"),
    ("IPv6 multicast source", E / IPv6(src="ff02::1", dst="2001:db8::1") / TCP(dport=80), "ip-bad-src"),
    ("IPv6 hop-by-hop not first", V6 / IPv6ExtHdrDestOpt() / IPv6ExtHdrHopByHop() / TCP(dport=80), "ip6-bad-ext"),
    ("IPv6 six extension headers", V6 / IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt() /
     IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt() / TCP(dport=80), "ip6-bad-ext"),
    ("IPv6 two fragment headers", V6 / IPv6ExtHdrFragment(m=1) / IPv6ExtHdrFragment(m=1) / TCP(dport=80),
     "ip6-bad-ext"),
    ("IPv6 TCP data offset 4", V6 / TCP(dport=80, dataofs=4), "tcp-bad-doff"),
    ("IPv6 UDP length below its header", V6 / UDP(dport=53, len=4), "udp-bad-length"),
    ("jumbo frame beyond one mbuf", E / ip() / TCP(sport=5558, dport=80, flags="PA") / Raw(b"j" * 8000), "oversize"),
    ("to another address", E / ip(dst="198.18.1.11") / SYN, "no-service"),
    ("to another port of the VIP", E / ip() / TCP(sport=5559, dport=81, flags="S"), "no-service"),
    ("ICMP to the VIP", E / ip(proto=1) / Raw(b"\x08\x00\xf7\xff\x00\x00\x00\x00"), "no-service"),
    ("ICMP error about a VIP's reply, bad checksum", E / ip(src="198.18.9.1") / ICMP(type=3, code=4, chksum=0x1234) /
     Raw(bytes(IP(src=VIP, dst="198.18.3.1") / TCP(sport=80, dport=7000))[:28]), "icmp-bad-checksum"),
    ("ICMP error about no connection", E / ip(src="198.18.9.1") / ICMP(type=3, code=4) /
     Raw(bytes(IP(src=VIP, dst="198.18.9.9") / TCP(sport=80, dport=999))[:28]), "icmp-no-conn"),
    ("ARP with bad lengths", Ether(src=h.CLIENT_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(hwlen=4, plen=9), "control"),
    ("ARP reply claiming an RS's address", Ether(src=h.CLIENT_MAC, dst=h.PORT_MAC) /
     ARP(op=2, psrc="198.18.0.11", hwsrc=h.CLIENT_MAC, pdst="198.18.0.2", hwdst=h.PORT_MAC), "control"),
    ("to the appliance's own address", E / ip(dst="198.18.0.2") / SYN, "control"),
]
# Handled as documented, and forwarded: options are carried untouched, a UDP length
# below the datagram is allowed (trailing bytes), fragments follow their first fragment.
GOOD_ODD = [
    ("IPv4 options", E / IP(src="198.18.2.9", dst=VIP, options=b"\x01\x01\x01\x00") / TCP(sport=6001, dport=80, flags="S")),
    ("UDP length shorter than the datagram", E / ip(src="198.18.2.9") / UDP(sport=6002, dport=53, len=8) / Raw(b"tail")),
    ("first fragment", E / ip(src="198.18.2.9", flags="MF", id=777) / UDP(sport=6003, dport=53, len=40) / Raw(b"f" * 24)),
    ("middle fragment", E / ip(src="198.18.2.9", flags="MF", frag=4, id=777, proto=17) / Raw(b"g" * 8)),
    ("overlapping fragment", E / ip(src="198.18.2.9", flags="MF", frag=3, id=777, proto=17) / Raw(b"o" * 8)),
    ("last fragment", E / ip(src="198.18.2.9", frag=5, id=777, proto=17) / Raw(b"l" * 8)),
    # VLAN 10 is the port's and a priority tag is untagged: both forwarded, untagged
    # (the real servers are on the untagged subnet).
    ("tagged VLAN 10", h.tagged(E / ip(src="198.18.2.9") / TCP(sport=6004, dport=80, flags="S"), 10, pcp=3)),
    ("priority-tagged", h.tagged(E / ip(src="198.18.2.9") / UDP(sport=6005, dport=53) / Raw(b"p"), 0, pcp=6)),
]


def after_macs(f):
    """What forwarding keeps of a frame: its EtherType and IP packet, once its VLAN tag
    (if any) is taken out."""
    b = bytes(f)
    return b[h.parse_l2(b).offset - 2:]


def live_connections(n):
    conns = []
    for i in range(n):
        src = "198.18.3.%d" % (i + 1)
        e = E / IP(src=src, dst=VIP)
        conns.append([e / TCP(sport=7000 + i, dport=80, flags="S"),
                      e / TCP(sport=7000 + i, dport=80, flags="A"),
                      e / TCP(sport=7000 + i, dport=80, flags="PA") / Raw(b"data %d" % i),
                      e / TCP(sport=7000 + i, dport=80, flags="A")])
    return conns


def test_hostile_frames_are_dropped_by_reason_and_connections_survive():
    assert len(BAD) >= 20
    conns = live_connections(30)
    sent = []
    # Each round: one packet of every live connection, then a few bad frames.
    bad_iter = iter(BAD * 3)
    for r in range(4):
        sent += [c[r] for c in conns]
        for _ in range(len(BAD) * 3 // 4 + 1):
            b = next(bad_iter, None)
            if b:
                sent.append(b[1])
    sent += [g[1] for g in GOOD_ODD]
    res = h.run(CONF_VLAN, [[sent]], name="malformed")
    h.check(res.rc == 0, "exit %d: %s" % (res.rc, res.stderr))

    expected = Counter()
    for _, _, outcome in BAD:
        if outcome not in ("control", "forward"):
            expected[outcome] += 3
    drops = {k: v for k, v in res.drops().items() if v}
    h.check(drops == dict(expected), "drops by reason:\n got      %s\n expected %s" % (drops, dict(expected)))
    n_control = sum(3 for _, _, o in BAD if o == "control")
    h.check(res.total("to_control") == n_control, "to control %d, expected %d" % (res.total("to_control"), n_control))

    # Exactly the live connections' packets and the odd-but-valid frames came out.
    out = res.forwarded()
    want = Counter(bytes(p)[12:] for c in conns for p in c) + Counter(after_macs(g[1]) for g in GOOD_ODD)
    got = Counter(bytes(p)[12:] for p in out)
    h.check(got == want, "forwarded frames differ: %d extra, %d missing" % (sum((got - want).values()),
                                                                          sum((want - got).values())))
    tagged_out = [l2 for _, l2 in res.of_type(0x0800) if l2.tags]
    h.check(not tagged_out, "tagged frames forwarded: %s" % tagged_out[:3])
    # Every live connection stayed on one RS; the fragments followed their first.
    per_conn = defaultdict(set)
    for p in out:
        if p.haslayer(TCP) and p[IP].src.startswith("198.18.3."):
            per_conn[p[TCP].sport].add(p[Ether].dst)
    h.check(len(per_conn) == 30 and all(len(v) == 1 for v in per_conn.values()), "a live connection moved RS")
    frag_rs = {p[Ether].dst for p in out if p[IP].id == 777}
    h.check(len(frag_rs) == 1, "fragments of one datagram went to %s" % frag_rs)
    h.check(res.stats["mbufs_leaked"] == 0, "mbufs leaked")


def fix_length(b):
    """An Ethernet/IPv4 frame whose IP total length (and checksum) match its size."""
    b = bytearray(b)
    b[16:18] = struct.pack("!H", len(b) - 14)
    return frame(raw_ip(bytes(b[14:])), eth=E)


def test_truncated_at_every_byte():
    """A TCP and a UDP frame cut at every byte, as sent (the IP header still claims the
    whole datagram) and with the IP total length fixed to the cut. Each cut lands in the
    reason for the header it ends in; a TCP segment cut inside its payload with a
    matching IP length is a shorter, valid segment and is forwarded."""
    tcp = bytes(E / ip(src="198.18.4.1") / TCP(sport=5600, dport=80, flags="S") / Raw(b"0123456789"))
    udp = bytes(E / ip(src="198.18.4.2") / UDP(sport=5601, dport=53) / Raw(b"0123456789"))
    sent, expected, forward = [], Counter(), []
    for whole, l4_hdr, over_reason in ((tcp, 20, None), (udp, 8, "udp-bad-length")):
        for cut in range(len(whole)):
            b = whole[:cut]
            sent.append(b)
            expected["runt" if cut < 14 else "ip-truncated" if cut < 34 else "ip-bad-length"] += 1
            if cut >= 34:
                fixed = fix_length(b)
                sent.append(fixed)
                if cut < 34 + l4_hdr:
                    expected["l4-truncated"] += 1
                elif over_reason:
                    expected[over_reason] += 1  # the UDP length claims more than the datagram
                else:
                    forward.append(fixed)
    cuts_among_connections(CONF, sent, expected, forward, "truncated")
    print("  %d cuts: %s, forwarded %d" % (len(sent), dict(expected), len(forward)))


def cuts_among_connections(conf, sent, expected, forward, name):
    """Runs `sent` between the packets of 10 live connections: drops by reason are
    exactly `expected`; what is forwarded is the connections' packets and `forward`,
    byte for byte behind the Ethernet addresses, untagged."""
    conns = live_connections(10)
    frames = [c[0] for c in conns] + [c[1] for c in conns] + sent + [c[2] for c in conns] + [c[3] for c in conns]
    res = h.run(conf, [[frames]], name=name)
    h.check(res.rc == 0, "exit %d: %s" % (res.rc, res.stderr))
    drops = {k: v for k, v in res.drops().items() if v}
    h.check(drops == dict(expected), "drops by reason:\n got      %s\n expected %s" % (drops, dict(expected)))
    got = Counter(bytes(p)[12:] for p in res.forwarded())
    want = Counter(bytes(p)[12:] for c in conns for p in c) + Counter(bytes(f)[12:] for f in forward)
    h.check(got == want and len(res.of_type(0x0800)) == len(res.forwarded()),
            "forwarded frames differ: %d extra, %d missing" % (sum((got - want).values()), sum((want - got).values())))



def test_tagged_truncated_at_every_byte():
    """A TCP frame tagged VLAN 10, and one priority tagged, cut at every byte (the IP
    header still claiming the whole datagram): too short for the tag and an EtherType is
    a runt; from there on each cut lands in the reason of the header it ends in, as
    untagged (ip-truncated inside the IPv4 header, ip-bad-length after it)."""
    sent, expected = [], Counter()
    for vid, src in ((10, "198.18.4.3"), (0, "198.18.4.4")):
        whole = h.tagged(E / ip(src=src) / TCP(sport=5602, dport=80, flags="S") / Raw(b"0123456789"), vid)
        for cut in range(len(whole)):
            sent.append(whole[:cut])
            expected["runt" if cut < 18 else "ip-truncated" if cut < 38 else "ip-bad-length"] += 1
    cuts_among_connections(CONF_VLAN, sent, expected, [], "vlan-truncated")


def test_jumbo_frames_with_a_larger_mtu():
    """--mtu 9000 with mbufs that hold a 9014-byte frame: jumbo frames of a connection are
    forwarded byte for byte (Ethernet addresses aside); a frame that still does not fit
    one mbuf is dropped as oversize."""
    e = E / IP(src="198.18.4.9", dst=VIP)
    jumbo = [e / TCP(sport=6100, dport=80, flags="S"),
             e / TCP(sport=6100, dport=80, flags="A") / Raw(b"J" * (9000 - 40)),
             e / TCP(sport=6100, dport=80, flags="PA") / Raw(b"K" * 4000)]
    too_big = e / TCP(sport=6101, dport=80, flags="S") / Raw(b"X" * 9200)
    h.check(len(bytes(jumbo[1])) == 9014, "the jumbo frame is %d bytes" % len(bytes(jumbo[1])))
    res = h.run(CONF, [[jumbo + [too_big]]], extra=["--mtu", "9000", "--mbuf-size", "9216"], name="jumbo")
    h.check(res.rc == 0, "exit %d: %s" % (res.rc, res.stderr))
    out = [bytes(p) for p in res.forwarded()]
    h.check([o[12:] for o in out] == [bytes(j)[12:] for j in jumbo],
            "forwarded: %s" % [len(o) for o in out])
    h.check(len({o[:6] for o in out}) == 1 and out[0][:6] in [bytes.fromhex(m.replace(":", "")) for m in RS],
            "not one real server: %s" % [o[:6].hex() for o in out])
    drops = {k: v for k, v in res.drops().items() if v}
    h.check(drops == {"oversize": 1}, "drops: %s" % drops)


def test_ipv4_checksum_trust():
    """--ipv4-checksum trust: where the NIC does not check IPv4 header checksums (net_pcap
    never does) drfwd does not either: a wrong one is forwarded (its real server drops
    it), on the fast path and the general one (IHL 6) alike. By default the same frames
    are dropped as ip-bad-checksum; everything else is the same in both runs."""
    good = E / ip(src="198.18.4.1") / TCP(sport=6200, dport=80, flags="S")
    bad = [frame(raw_ip(ip(src="198.18.4.2", chksum=0x1234) / TCP(sport=6201, dport=80, flags="S"), fix_checksum=False)),
           frame(raw_ip(ip(src="198.18.4.3", chksum=0x1234) / UDP(sport=6202, dport=53) / Raw(b"q" * 20),
                        fix_checksum=False)),
           frame(raw_ip(ip(src="198.18.4.4", chksum=0x1234, options=b"\x01\x01\x01\x00") /
                        TCP(sport=6203, dport=80, flags="S"), fix_checksum=False))]
    runt = bytes(E)[:10]
    frames = [good] + bad + [runt]
    for trust in (False, True):
        res = h.run(CONF, [[frames]], extra=["--ipv4-checksum", "trust"] if trust else [],
                    name="csum-%s" % ("trust" if trust else "verify"))
        h.check(res.rc == 0, "exit %d: %s" % (res.rc, res.stderr))
        out = [bytes(p) for p in res.forwarded()]
        want = [bytes(good)] + (bad if trust else [])
        h.check([o[12:] for o in out] == [w[12:] for w in want],
                "trust=%s: forwarded %d of %d" % (trust, len(out), len(want)))
        drops = {k: v for k, v in res.drops().items() if v}
        h.check(drops == ({"runt": 1} if trust else {"runt": 1, "ip-bad-checksum": 3}), "drops: %s" % drops)
    rc, _, err = h.run_expect_failure(CONF, extra=["--ipv4-checksum", "sometimes"])
    h.check(rc == 2 and "--ipv4-checksum 'sometimes': verify or trust" in err, "bad mode: exit %d: %s" % (rc, err))


def test_small_mbufs_with_a_small_mtu():
    """--mbuf-size 512 (384 bytes of data after the headroom) with --mtu 366: drfwd starts
    (warning that IPv6 needs 1280), forwards small frames and drops one that does not fit
    one mbuf as oversize; --mtu 127 is refused (a sync message of one connection takes 72 bytes)."""
    e = E / IP(src="198.18.4.20", dst=VIP)
    ok = [e / TCP(sport=6300, dport=80, flags="S"), e / TCP(sport=6300, dport=80, flags="A") / Raw(b"s" * 300)]
    big = e / TCP(sport=6301, dport=80, flags="S") / Raw(b"B" * 400)
    res = h.run(CONF, [[ok + [big]]], extra=["--mtu", "366", "--mbuf-size", "512"], name="small-mbufs")
    h.check(res.rc == 0, "exit %d: %s" % (res.rc, res.stderr))
    h.check("below IPv6's minimum of 1280" in res.stderr, "no IPv6 warning: %s" % res.stderr[-500:])
    out = [bytes(p) for p in res.forwarded()]
    h.check([o[12:] for o in out] == [bytes(p)[12:] for p in ok], "forwarded: %s" % [len(o) for o in out])
    drops = {k: v for k, v in res.drops().items() if v}
    h.check(drops == {"oversize": 1}, "drops: %s" % drops)
    rc, _, err = h.run_expect_failure(CONF, extra=["--mtu", "127"])
    h.check(rc == 2 and "--mtu must be between 128 and 65000" in err, "mtu 127: exit %d: %s" % (rc, err))
