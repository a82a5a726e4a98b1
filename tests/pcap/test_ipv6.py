"""pcap tier: IPv6, checked frame by frame as IPv4 is (test_forwarding.py).

- forwarding with every scheduler: each IPv6 frame drfwd sends is an input frame with
  only its Ethernet addresses rewritten (an RS's MAC as destination, the port's as
  source, the IPv6 header and payload byte-identical), one flow stays on one RS, rr and
  wrr split as documented, sh, hash and mh choose the same RS whatever the order the
  RSs were added in (so directors agree);
- persistence with netmask 64: a client /64 on one RS;
- fragments follow their first fragment; ICMPv6 Packet Too Big about a real server's
  reply goes to that connection's RS (path MTU discovery);
- NDP: solicitations for a VIP or the port's link-local address are answered (NA with
  S and O, the port's MAC as target link-layer address), others not; the VIPs are
  announced with unsolicited NAs at start; malformed NDP is counted and dropped;
- IPv4, IPv6 and VLAN-tagged traffic in one run, every verdict and counter exact;
- the views (ipvsadm -L/-S/-L -c, show config, show conns) and the refusal of a real
  server of the other family, at run time.

Addresses: 2001:2::/48 (IPv6 benchmarking) and 198.18.0.0/15. pcap has no one to
answer neighbour solicitations: real servers are static neighbours.
"""
import ipaddress
import re
from collections import Counter, defaultdict

import pytest
from scapy.all import (ARP, ICMPv6EchoRequest, ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6NDOptDstLLAddr,
                       ICMPv6NDOptSrcLLAddr, ICMPv6PacketTooBig, IP, IPv6, IPv6ExtHdrFragment, TCP, UDP,
                       Ether, Raw, fragment6)

import harness as h

IPV4, ARP_TYPE, IPV6 = 0x0800, 0x0806, 0x86dd
PORT_LL = "fe80::70:63ff:fe61:7000"     # EUI-64 of the port's MAC 02:70:63:61:70:00
ALL_NODES_MAC = "33:33:00:00:00:01"
RS_MACS = {"2001:2::11": "02:00:00:00:00:11", "2001:2::12": "02:00:00:00:00:12",
           "2001:2::13": "02:00:00:00:00:13"}
MAC_RS = {v: k for k, v in RS_MACS.items()}
RS3 = ("2001:2::11", "2001:2::12", "2001:2::13")
VIPS = {"rr": "2001:2::100", "wrr": "2001:2::101", "sh": "2001:2::102", "hash": "2001:2::103",
        "mh": "2001:2::104"}
VIP_PERSIST = "2001:2::105"


def neighbours(ips=RS_MACS):
    return "".join("neigh add %s %s port 0\n" % (ip, RS_MACS[ip]) for ip in ips)


def client(n, host=1):
    """Client n's address: /64 number n of 2001:2::/48, interface id `host`."""
    return "2001:2:0:%x::%x" % (0x1000 + n, host)


def tcp_conn(src, sport, vip, payload=b"GET / HTTP/1.1\r\n\r\n", dport=80, tc=0, fl=0):
    e = Ether(src=h.CLIENT_MAC, dst=h.PORT_MAC)
    ip = IPv6(src=src, dst=vip, tc=tc, fl=fl, hlim=60)
    return [e / ip / TCP(sport=sport, dport=dport, flags="S", seq=1),
            e / ip / TCP(sport=sport, dport=dport, flags="A", seq=2, ack=1),
            e / ip / TCP(sport=sport, dport=dport, flags="PA", seq=2, ack=1) / Raw(payload),
            e / ip / TCP(sport=sport, dport=dport, flags="FA", seq=2 + len(payload), ack=1)]



def ipv6_out(res, port=0):
    """(frame bytes, L2Header) of every IPv6 frame drfwd sent out of `port`."""
    return res.of_type(IPV6, port)


def is_ndp(b, l2):
    """ICMPv6 neighbour discovery right after the IPv6 header (as drfwd sends it)."""
    return len(b) > l2.offset + 40 and b[l2.offset + 6] == 58 and b[l2.offset + 40] in (133, 134, 135, 136, 137)


def forwarded6(res, port=0):
    return [(b, l2) for b, l2 in ipv6_out(res, port) if not is_ndp(b, l2)]


def flow_of(ip6):
    """(VIP, client, client port, protocol) of an IPv6 packet with a TCP or UDP header."""
    l4 = ip6[TCP] if ip6.haslayer(TCP) else ip6[UDP]
    return (ip6.dst, ip6.src, l4.sport, ip6.nh)


def check_forwarded(res, expected, egress=None, port=0):
    """Every forwarded IPv6 frame is one of `expected` with only its Ethernet addresses
    changed: the port's MAC as source, an RS's MAC as destination (and the tags
    egress[RS MAC], a tuple of VIDs, when given; else untagged); every expected frame
    came out once; a flow never moves. Returns {flow: RS MAC}."""
    pending = Counter(h.payload_bytes(f) for f in expected)
    flows = {}
    out = forwarded6(res, port)
    port_mac = h.PORT_MAC if port == 0 else h.PORT1_MAC
    for b, l2 in out:
        h.check(l2.src == port_mac, "source MAC %s is not the port's: %r" % (l2.src, l2))
        allowed = egress if egress is not None else MAC_RS
        h.check(l2.dst in allowed, "destination MAC %s is not a real server's: %r" % (l2.dst, l2))
        want_vids = egress[l2.dst] if egress is not None else ()
        h.check(tuple(l2.vids) == want_vids and all(t[0] == h.TPID_8021Q for t in l2.tags),
                "to %s with tags %s, expected VIDs %s" % (l2.dst, l2.tags, list(want_vids)))
        payload = b[l2.offset:]
        h.check(pending[payload] > 0, "forwarded a frame that was not sent so, or not to be forwarded "
                "(IPv6 header or payload changed, or a dropped frame): %s %r" % (IPv6(payload).summary(), l2))
        pending[payload] -= 1
        ip6 = IPv6(payload)
        if ip6.haslayer(TCP) or ip6.haslayer(UDP):
            key = flow_of(ip6)
            h.check(flows.setdefault(key, l2.dst) == l2.dst,
                    "flow %s moved from %s to %s" % (key, flows[key], l2.dst))
    missing = sum(pending.values())
    h.check(missing == 0, "%d of %d expected frames did not come out (forwarded %d)" % (missing, len(expected), len(out)))
    return flows


def check_clean_exit(res):
    h.check(res.rc == 0, "exit status %d: %s" % (res.rc, res.stderr[-3000:]))
    h.check(res.stats["mbufs_leaked"] == 0, "mbufs leaked: %d" % res.stats["mbufs_leaked"])
    h.check(res.stats["conn_tables_consistent"], "connection table inconsistent at exit")


def nonzero_drops(res):
    return {k: v for k, v in res.drops().items() if v}


def worker_sum(res, key):
    return sum(w[key] for w in res.stats["workers"])


# ---- scheduling: one run per RS order, every scheduler's service in it --------------

def sched_config(order):
    """A service per scheduler (rr and wrr on two RSs, wrr 3:1; sh, hash, mh on three)
    and a persistent rr one with netmask 64; RSs added in `order` (a permutation of RS3)."""
    conf = "port 0 address 198.18.0.2/24\n"
    for sched, vip in VIPS.items():
        conf += "vip add %s tcp 80 sched %s\n" % (vip, sched)
    conf += "vip add %s tcp 80 sched rr persist 60 netmask 64\n" % VIP_PERSIST
    weights = {"2001:2::11": 3, "2001:2::12": 1}
    for ip in order:
        if ip in weights:
            conf += "rs add %s tcp 80 %s\n" % (VIPS["rr"], ip)
            conf += "rs add %s tcp 80 %s weight %d\n" % (VIPS["wrr"], ip, weights[ip])
            conf += "rs add %s tcp 80 %s\n" % (VIP_PERSIST, ip)
        for sched in ("sh", "hash", "mh"):
            conf += "rs add %s tcp 80 %s\n" % (VIPS[sched], ip)
    return conf + neighbours()


# Persistence: 10 client /64s (differing in bits 56-63 only), 3 hosts in each (differing
# in the upper bits of the interface id), 2 connections per host.
PERSIST_NETS = ["2001:2:0:a%x" % i for i in range(10)]
PERSIST_HOSTS = ["0:0:0:1", "ffff:0:0:1", "1234:5678:9abc:def0"]


def sched_traffic():
    conns = {}
    # rr's with a traffic class and flow labels: carried unchanged as the rest.
    conns["rr"] = [tcp_conn(client(i), 10000 + i, VIPS["rr"], tc=0xb8, fl=0x12340 + i) for i in range(200)]
    conns["wrr"] = [tcp_conn(client(i), 20000 + i, VIPS["wrr"])[:2] for i in range(200)]
    conns["sh"] = [tcp_conn(client(c, 0x5000 + c), 30000 + k, VIPS["sh"])[:2] for c in range(90) for k in range(4)]
    conns["hash"] = [tcp_conn(client(i % 150, 7), 40000 + i, VIPS["hash"])[:1] for i in range(300)]
    conns["mh"] = [tcp_conn(client(i % 150, 9), 50000 + i, VIPS["mh"])[:1] for i in range(300)]
    # Round r: every /64's r-th connection, so the first round schedules each /64 once.
    conns["persist"] = [tcp_conn("%s:%s" % (net, PERSIST_HOSTS[r // 2]), 60000 + r, VIP_PERSIST)[:2]
                        for r in range(6) for net in PERSIST_NETS]
    return conns


@pytest.fixture(scope="module")
def sched_runs():
    """Two runs of the same traffic, the RSs added in two orders: per run the flows'
    RSs by service, and the run's Result."""
    conns = sched_traffic()
    sent = h.interleave([c for cs in conns.values() for c in cs])
    out = []
    for name, order in (("a", RS3), ("b", tuple(reversed(RS3)))):
        res = h.run(sched_config(order), [[sent]], name="v6-sched-" + name)
        check_clean_exit(res)
        flows = check_forwarded(res, sent)
        out.append((res, flows, conns))
    return out


def flows_of(flows, vip):
    return {k: MAC_RS[v] for k, v in flows.items() if k[0] == vip}


def test_every_frame_forwarded_unchanged_and_counted(sched_runs):
    for res, flows, conns in sched_runs:
        n_frames = sum(len(c) for cs in conns.values() for c in cs)
        n_conns = sum(len(cs) for cs in conns.values())
        h.check(len(forwarded6(res)) == n_frames, "forwarded %d of %d" % (len(forwarded6(res)), n_frames))
        t = res.stats["totals"]
        want = {"received": n_frames, "forwarded": n_frames, "dropped": 0, "to_control": 0}
        got = {k: t[k] for k in want}
        h.check(got == want, "totals %s, expected %s (drops %s)" % (got, want, nonzero_drops(res)))
        h.check(worker_sum(res, "conn_new") == n_conns, "conn_new %d, expected %d" %
                (worker_sum(res, "conn_new"), n_conns))
        h.check(len(flows) == n_conns, "%d flows forwarded, expected %d" % (len(flows), n_conns))


def service_stats(res, vip):
    svc = [s for s in res.stats["services"] if s["vip"] == vip]
    h.check(len(svc) == 1, "no stats for %s: %s" % (vip, [s["vip"] for s in res.stats["services"]]))
    return {r["ip"]: r for r in svc[0]["real_servers"]}


def test_round_robin(sched_runs):
    for res, flows, conns in sched_runs:
        rr = flows_of(flows, VIPS["rr"])
        per_rs = Counter(rr.values())
        h.check(per_rs == Counter({"2001:2::11": 100, "2001:2::12": 100}), "rr split %s" % dict(per_rs))
        rs_bytes = Counter()
        for c in conns["rr"]:
            rs_bytes[rr[flow_of(c[0][IPv6])]] += sum(len(f) for f in c)
        rs_stats = service_stats(res, VIPS["rr"])
        for ip in ("2001:2::11", "2001:2::12"):
            got = {k: rs_stats.get(ip, {}).get(k) for k in ("conns", "packets", "bytes")}
            want = {"conns": 100, "packets": 400, "bytes": rs_bytes[ip]}
            h.check(got == want, "counters of %s: %s, expected %s" % (ip, got, want))


def test_weighted_round_robin(sched_runs):
    for _, flows, _ in sched_runs:
        per_rs = Counter(flows_of(flows, VIPS["wrr"]).values())
        h.check(per_rs == Counter({"2001:2::11": 150, "2001:2::12": 50}), "wrr 3:1 split %s" % dict(per_rs))


def test_source_hash_keeps_clients_together_and_directors_agree(sched_runs):
    by_run = []
    for _, flows, _ in sched_runs:
        by_client = defaultdict(set)
        for (_, src, _, _), rs in flows_of(flows, VIPS["sh"]).items():
            by_client[src].add(rs)
        split = [c for c, v in by_client.items() if len(v) != 1]
        h.check(len(by_client) == 90 and not split, "%d clients, split across RSs: %s" % (len(by_client), split[:5]))
        choice = {c: next(iter(v)) for c, v in by_client.items()}
        spread = Counter(choice.values())
        h.check(len(spread) == 3 and min(spread.values()) >= 15, "sh spread of 90 clients: %s" % dict(spread))
        by_run.append(choice)
    moved = [c for c in by_run[0] if by_run[0][c] != by_run[1][c]]
    h.check(not moved, "sh: %d clients chose another RS with the RSs added in another order, e.g. %s" %
            (len(moved), moved[:3]))


@pytest.mark.parametrize("sched", ["hash", "mh"])
def test_hash_schedulers_do_not_depend_on_rs_order(sched_runs, sched):
    (_, fa, _), (_, fb, _) = sched_runs
    a, b = flows_of(fa, VIPS[sched]), flows_of(fb, VIPS[sched])
    h.check(len(a) == 300 and set(a) == set(b), "%s: %d and %d flows" % (sched, len(a), len(b)))
    moved = [k for k in a if a[k] != b[k]]
    h.check(not moved, "%s: %d of 300 flows chose another RS with the RSs added in another order, e.g. %s" %
            (sched, len(moved), moved[:3]))
    spread = Counter(a.values())
    h.check(len(spread) == 3 and min(spread.values()) > 60, "%s spread of 300 flows: %s" % (sched, dict(spread)))


def test_persistence_netmask_64_keeps_a_clients_prefix_on_one_rs(sched_runs):
    for res, flows, _ in sched_runs:
        by_net = defaultdict(set)
        for (_, src, _, _), rs in flows_of(flows, VIP_PERSIST).items():
            net = [n for n in PERSIST_NETS if src.startswith(n + ":")]
            h.check(len(net) == 1, "unexpected client %s" % src)
            by_net[net[0]].add(rs)
        split = {n: sorted(v) for n, v in by_net.items() if len(v) != 1}
        h.check(len(by_net) == 10 and not split, "/64s split across RSs: %s" % split)
        # The first connection of each /64 was scheduled by rr in turn: neighbouring /64s
        # (one /56) alternate, so the mask is not shorter than 64 bits.
        rs = [next(iter(by_net[n])) for n in PERSIST_NETS]
        h.check(all(rs[i] != rs[i + 1] for i in range(9)), "rr over the /64s did not alternate: %s" % rs)
        h.check(Counter(rs) == Counter({"2001:2::11": 5, "2001:2::12": 5}), "/64s per RS: %s" % Counter(rs))
        h.check(worker_sum(res, "tmpl_new") == 10, "tmpl_new %d, expected one per /64 (10)" %
                worker_sum(res, "tmpl_new"))
        templates = {ip: r["persist"] for ip, r in service_stats(res, VIP_PERSIST).items()}
        h.check(templates == {"2001:2::11": 5, "2001:2::12": 5}, "persistence templates per RS: %s" % templates)


# ---- fragments and ICMPv6 errors -----------------------------------------------------

FRAG_VIP = "2001:2::200"
PTB_ROUTER = "2001:2:0:99::1"


def udp_fragments(src, sport, ident, size=3000, dport=5353):
    dgram = (IPv6(src=src, dst=FRAG_VIP) / IPv6ExtHdrFragment(id=ident) /
             UDP(sport=sport, dport=dport) / Raw(bytes([ident & 0xff]) * size))
    return [Ether(src=h.CLIENT_MAC, dst=h.PORT_MAC) / f for f in fragment6(dgram, 1280)]


def packet_too_big(vip, cl, sport, mtu=1280, src=PTB_ROUTER, corrupt=False):
    """What a router sends when a real server's reply (from the VIP) does not fit the
    client's path: ICMPv6 Packet Too Big to the VIP, quoting as much of the reply as fits
    in 1280 bytes."""
    reply = IPv6(src=vip, dst=cl, hlim=64) / TCP(sport=80, dport=sport, flags="A", seq=1, ack=2) / Raw(b"r" * 1400)
    ptb = (Ether(src=h.CLIENT_MAC, dst=h.PORT_MAC) / IPv6(src=src, dst=vip) /
           ICMPv6PacketTooBig(mtu=mtu) / Raw(bytes(reply)[:1280 - 48]))
    if corrupt:
        ptb = Ether(bytes(ptb))
        ptb[ICMPv6PacketTooBig].cksum ^= 0x5555
    return ptb


@pytest.fixture(scope="module")
def frag_icmp_run():
    conf = ("port 0 address 198.18.0.2/24\n"
            "vip add %s udp 5353 sched rr\n" % FRAG_VIP +
            "".join("rs add %s udp 5353 %s\n" % (FRAG_VIP, ip) for ip in RS3) +
            "vip add %s tcp 80 sched rr\n" % VIPS["rr"] +
            "".join("rs add %s tcp 80 %s\n" % (VIPS["rr"], ip) for ip in RS3) +
            "vip add %s tcp 80 sched mh\n" % VIPS["mh"] +
            "".join("rs add %s tcp 80 %s\n" % (VIPS["mh"], ip) for ip in RS3) + neighbours())
    # 12 datagrams from 6 flows (two each, one flow's fragments interleaved with another's).
    dgrams = []
    for i in range(12):
        f = i % 6
        dgrams.append(udp_fragments(client(f, 0x33), 5000 + f, 0x10000 + i))
    frags = []
    for i in range(0, 12, 2):
        a, b = dgrams[i], dgrams[i + 1]
        frags += h.interleave([a, b])
    # 18 TCP connections; then a Packet Too Big about each one's reply, one about a
    # connection nobody opened (rr: dropped) and one with a bad checksum.
    cl = [(client(200 + i, 0x44), 7000 + i) for i in range(18)]
    conns = h.interleave([tcp_conn(c, p, VIPS["rr"])[:2] for c, p in cl])
    ptbs = [packet_too_big(VIPS["rr"], c, p, mtu=1280 + 8 * i) for i, (c, p) in enumerate(cl)]
    unknown = packet_too_big(VIPS["rr"], client(999, 0x44), 555)
    bad = packet_too_big(VIPS["rr"], cl[0][0], cl[0][1], corrupt=True)
    # mh: errors about connections not in the table (yet) go where mh sends the
    # connection: where its SYN, sent after them, goes.
    mh_cl = [(client(600 + i, 0x55), 8000 + i) for i in range(12)]
    mh_ptbs = [packet_too_big(VIPS["mh"], c, p) for c, p in mh_cl]
    mh_syns = [tcp_conn(c, p, VIPS["mh"])[0] for c, p in mh_cl]
    sent = frags + conns + ptbs + [unknown, bad] + mh_ptbs + mh_syns
    res = h.run(conf, [[sent]], name="v6-frag-icmp")
    check_clean_exit(res)
    return res, dgrams, frags, conns, ptbs, cl, mh_ptbs + mh_syns


def test_fragments_follow_their_first_fragment(frag_icmp_run):
    res, dgrams, frags, conns, ptbs, _, mh = frag_icmp_run
    check_forwarded(res, frags + conns + ptbs + mh)
    by_payload = {h.payload_bytes(b): l2.dst for b, l2 in forwarded6(res)}
    first_rs = {}
    for i, d in enumerate(dgrams):
        rs = [by_payload.get(h.payload_bytes(f)) for f in d]
        h.check(None not in rs, "datagram %d: fragments %s not forwarded" % (i, [j for j, r in enumerate(rs) if r is None]))
        h.check(len(set(rs)) == 1, "datagram %d (%d fragments) went to %s" % (i, len(d), rs))
        first_rs[i] = rs[0]
    # rr: the six flows' first datagrams on the three RSs in turn; a flow's second
    # datagram (its first fragment is a packet of the same flow) where its first went.
    h.check(Counter(first_rs[i] for i in range(6)) == Counter({m: 2 for m in RS_MACS.values()}),
            "flows per RS: %s" % Counter(first_rs[i] for i in range(6)))
    h.check(all(first_rs[i] == first_rs[i + 6] for i in range(6)),
            "a flow's datagrams on different RSs: %s" % [(first_rs[i], first_rs[i + 6]) for i in range(6)])
    later = sum(len(d) - 1 for d in dgrams)
    h.check(worker_sum(res, "frag_forwarded") == later, "frag_forwarded %d, expected %d" %
            (worker_sum(res, "frag_forwarded"), later))


def test_packet_too_big_reaches_the_connections_real_server(frag_icmp_run):
    res, _, _, _, ptbs, cl, mh = frag_icmp_run
    conn_rs, ptb_rs = {}, {}
    for b, l2 in forwarded6(res):
        ip6 = IPv6(b[l2.offset:])
        if ip6.haslayer(ICMPv6PacketTooBig):
            quoted = IPv6(bytes(ip6[ICMPv6PacketTooBig].payload))
            ptb_rs[(quoted.src, quoted.dst, quoted[TCP].dport)] = l2.dst
        elif ip6.haslayer(TCP):
            conn_rs[(ip6.dst, ip6.src, ip6[TCP].sport)] = l2.dst
    h.check(len(ptb_rs) == len(ptbs) + len(mh) // 2, "%d of %d Packet Too Big forwarded" %
            (len(ptb_rs), len(ptbs) + len(mh) // 2))
    for vip, conns in ((VIPS["rr"], cl), (VIPS["mh"], [(f[IPv6].src, f[TCP].sport) for f in mh[len(mh) // 2:]])):
        for c, p in conns:
            key = (vip, c, p)
            h.check(key in ptb_rs and ptb_rs[key] == conn_rs.get(key),
                    "Packet Too Big about %s went to %s, the connection is on %s" %
                    (key, ptb_rs.get(key), conn_rs.get(key)))
        h.check(len({ptb_rs[(vip, c, p)] for c, p in conns}) == 3,
                "all errors about %s's connections to one RS: the check proves nothing" % vip)
    drops = nonzero_drops(res)
    h.check(drops == {"icmp-no-conn": 1, "icmp-bad-checksum": 1},
            "drops %s, expected icmp-no-conn 1 (unknown connection, rr) and icmp-bad-checksum 1" % drops)
    n_icmp = len(ptbs) + len(mh) // 2
    h.check(worker_sum(res, "icmp_forwarded") == n_icmp, "icmp_forwarded %d, expected %d" %
            (worker_sum(res, "icmp_forwarded"), n_icmp))
    # The errors create no connection: 6 UDP flows, 18 + 12 TCP connections.
    h.check(worker_sum(res, "conn_new") == 36, "conn_new %d, expected 36" % worker_sum(res, "conn_new"))


# ---- NDP -----------------------------------------------------------------------------

NDP_VIP2 = "2001:2::101"
NDP_UNRESOLVED = "2001:2::14"  # a real server without a static neighbour


def solicited_node(addr):
    """ff02::1:ff00:0/104 and the address's last 24 bits, in RFC 5952 text."""
    low = ipaddress.IPv6Address(addr).packed[13:]
    return str(ipaddress.IPv6Address(ipaddress.IPv6Address("ff02::1:ff00:0").packed[:13] + low))


def group_mac(group):
    return "33:33:" + ":".join("%02x" % x for x in ipaddress.IPv6Address(group).packed[12:])


def ns(target, src, mac, slla=True, unicast=False, hlim=255):
    dst = target if unicast else solicited_node(target)
    f = (Ether(src=mac, dst=h.PORT_MAC if unicast else group_mac(dst)) / IPv6(src=src, dst=dst, hlim=hlim) /
         ICMPv6ND_NS(tgt=target))
    return f / ICMPv6NDOptSrcLLAddr(lladdr=mac) if slla else f


def requester(i):
    return "2001:2::%x" % (0x1000 + i), "02:00:00:00:10:%02x" % i


def parse_na(b, l2):
    ip6 = IPv6(b[l2.offset:])
    return ip6 if ip6.haslayer(ICMPv6ND_NA) else None


def checksum_ok(ip6):
    again = IPv6(bytes(ip6))
    sent = again[ICMPv6ND_NA].cksum
    del again[ICMPv6ND_NA].cksum
    return IPv6(bytes(again))[ICMPv6ND_NA].cksum == sent


@pytest.fixture(scope="module")
def ndp_run():
    conf = ("port 0 address 198.18.0.2/24\nvip add %s tcp 80 sched mh\nvip add %s udp 53\n"
            "rs add %s tcp 80 2001:2::11\nrs add %s tcp 80 %s\n" % (VIPS["rr"], NDP_VIP2, VIPS["rr"], VIPS["rr"],
                                                                    NDP_UNRESOLVED) + neighbours(["2001:2::11"]))
    ip1, mac1 = requester(1)
    ip2, mac2 = requester(2)
    ip3, mac3 = requester(3)
    ip4, mac4 = requester(4)
    ip5, mac5 = requester(5)
    ll6, mac6 = "fe80::6", "02:00:00:00:10:06"
    cases = [
        # (name, frame, answer expected: (IPv6 dst, Ethernet dst, solicited) or None)
        ("NS for the VIP to its solicited-node group", ns(VIPS["rr"], ip1, mac1), (ip1, mac1, True)),
        ("NS for the second VIP (UDP only)", ns(NDP_VIP2, ip2, mac2), (ip2, mac2, True)),
        ("unicast NS for the VIP without SLLA (NUD)", ns(VIPS["rr"], ip3, mac3, slla=False, unicast=True),
         (ip3, mac3, True)),
        ("NS for an address drfwd does not own", ns("2001:2::77", ip4, mac4), None),
        ("NS for a real server's address", ns("2001:2::11", ip4, mac4), None),
        ("NS for the VIP with hop limit 64", ns(VIPS["rr"], ip5, mac5, hlim=64), None),
        ("NS for the port's link-local address", ns(PORT_LL, ll6, mac6), (ll6, mac6, True)),
        ("DAD probe for the VIP", ns(VIPS["rr"], "::", "02:00:00:00:10:07", slla=False),
         ("ff02::1", ALL_NODES_MAC, False)),
    ]
    res = h.run(conf, [[[c[1] for c in cases]]], name="v6-ndp")
    check_clean_exit(res)
    return res, cases


def test_solicitations_answered_for_vips_and_link_local_only(ndp_run):
    res, cases = ndp_run
    nas = [(parse_na(b, l2), l2) for b, l2 in ipv6_out(res) if parse_na(b, l2) is not None]
    # Answers to a requester: every NA not to all-nodes (the DAD probe's answer, to
    # all-nodes, is checked below against the announcements).
    answers = [(ip6, l2) for ip6, l2 in nas if ip6.dst != "ff02::1"]
    for name, frame, want in cases:
        target = frame[ICMPv6ND_NS].tgt
        if want is None:
            got = [a for a in answers if a[0][ICMPv6ND_NA].tgt == target and a[0].dst == frame[IPv6].src]
            h.check(not got, "%s answered: %s" % (name, [a[0].summary() for a in got]))
            continue
        if want[0] == "ff02::1":
            continue  # below
        dst, eth_dst, solicited = want
        got = [a for a in answers if a[0].dst == dst]
        h.check(len(got) == 1, "%s: %d answers" % (name, len(got)))
        ip6, l2 = got[0]
        na = ip6[ICMPv6ND_NA]
        h.check(l2.src == h.PORT_MAC and l2.dst == eth_dst and not l2.tags,
                "%s: answer from %s to %s (tags %s), expected from the port %s to %s" %
                (name, l2.src, l2.dst, l2.tags, h.PORT_MAC, eth_dst))
        h.check(ip6.src == target and na.tgt == target and ip6.hlim == 255 and na.code == 0,
                "%s: NA from %s for %s hop limit %d code %d" % (name, ip6.src, na.tgt, ip6.hlim, na.code))
        h.check(na.S == int(solicited) and na.O == 1 and na.R == 0, "%s: flags R %d S %d O %d" % (name, na.R, na.S, na.O))
        h.check(na.haslayer(ICMPv6NDOptDstLLAddr) and na[ICMPv6NDOptDstLLAddr].lladdr == h.PORT_MAC,
                "%s: target link-layer address %s" % (name, na[ICMPv6NDOptDstLLAddr].lladdr
                                                        if na.haslayer(ICMPv6NDOptDstLLAddr) else None))
        h.check(checksum_ok(ip6), "%s: bad ICMPv6 checksum" % name)
    h.check(len(answers) == 4, "%d unicast NAs, expected 4: %s" % (len(answers), [a[0].summary() for a in answers]))
    # The DAD probe's answer goes to all-nodes, not solicited: one more NA for the VIP
    # there than the announcements, which carry the same fields.
    c = res.stats["control"]
    to_all = [(ip6, l2) for ip6, l2 in nas if ip6.dst == "ff02::1" and ip6[ICMPv6ND_NA].tgt == VIPS["rr"]]
    ann_vip = c["ndp_announces"] - len([1 for ip6, _ in nas if ip6.dst == "ff02::1" and
                                        ip6[ICMPv6ND_NA].tgt == NDP_VIP2])
    h.check(len(to_all) == ann_vip + 1, "%d NAs for the VIP to all-nodes, %d of them announcements: the DAD probe "
            "was not answered (or answered more than once)" % (len(to_all), ann_vip))
    # Not answered, and not malformed: the kernel's (none here: dropped).
    want = {"ndp_in": len(cases), "ndp_malformed": 1, "ndp_vip_replies": 5, "ndp_conflicting": 0,
            "to_kernel_dropped": 2}
    got = {k: c[k] for k in want}
    h.check(got == want, "control counters %s, expected %s" % (got, want))
    h.check(res.total("to_control") == len(cases), "to_control %d, expected %d" % (res.total("to_control"), len(cases)))
    h.check(res.total("dropped") == 0, "drops %s" % nonzero_drops(res))


def test_vips_announced_with_unsolicited_advertisements(ndp_run):
    res, _ = ndp_run
    ann = []
    for b, l2 in ipv6_out(res):
        ip6 = parse_na(b, l2)
        if ip6 is not None and ip6.dst == "ff02::1" and ip6[ICMPv6ND_NA].S == 0:
            ann.append((ip6, l2))
    got = Counter(ip6[ICMPv6ND_NA].tgt for ip6, _ in ann)
    h.check(set(got) == {VIPS["rr"], NDP_VIP2}, "unsolicited NAs for %s" % dict(got))
    for ip6, l2 in ann:
        na = ip6[ICMPv6ND_NA]
        h.check(l2.dst == ALL_NODES_MAC and l2.src == h.PORT_MAC and ip6.src == na.tgt and ip6.hlim == 255 and
                na.O == 1 and na.R == 0 and na.haslayer(ICMPv6NDOptDstLLAddr) and
                na[ICMPv6NDOptDstLLAddr].lladdr == h.PORT_MAC and checksum_ok(ip6),
                "bad announcement %s %r" % (ip6.summary(), l2))
    c = res.stats["control"]
    # The VIP's DAD answer is an NA to all-nodes too: one more than its announcements.
    h.check(c["ndp_announces"] == len(ann) - 1 and got[NDP_VIP2] >= 1,
            "ndp_announces %d, %d unsolicited NAs to all-nodes (one of them the DAD answer)" %
            (c["ndp_announces"], len(ann)))
    h.check(c["arp_announces"] == 0, "IPv6 VIPs announced by ARP: %d" % c["arp_announces"])


def test_real_server_resolved_by_solicitation_from_link_local(ndp_run):
    res, _ = ndp_run
    sol = []
    for b, l2 in ipv6_out(res):
        ip6 = IPv6(b[l2.offset:])
        if ip6.haslayer(ICMPv6ND_NS):
            sol.append((ip6, l2))
    c = res.stats["control"]
    h.check(sol and c["ndp_requests"] == len(sol), "%d solicitations sent, ndp_requests %d" %
            (len(sol), c["ndp_requests"]))
    group = solicited_node(NDP_UNRESOLVED)
    for ip6, l2 in sol:
        s = ip6[ICMPv6ND_NS]
        h.check(s.tgt == NDP_UNRESOLVED and ip6.src == PORT_LL and ip6.dst == group and ip6.hlim == 255 and
                l2.src == h.PORT_MAC and l2.dst == group_mac(group) and not l2.tags and
                s.haslayer(ICMPv6NDOptSrcLLAddr) and s[ICMPv6NDOptSrcLLAddr].lladdr == h.PORT_MAC,
                "solicitation %s %r: expected for %s from %s to %s with SLLA %s" %
                (ip6.summary(), l2, NDP_UNRESOLVED, PORT_LL, group, h.PORT_MAC))
        again = IPv6(bytes(ip6))
        del again[ICMPv6ND_NS].cksum
        h.check(IPv6(bytes(again))[ICMPv6ND_NS].cksum == s.cksum, "solicitation with a bad checksum")


# ---- IPv4, IPv6 and VLANs in one run ---------------------------------------------------

MIX_VIP4 = "198.18.1.10"
MIX_VIP6 = "2001:2::100"
MIX_RS4 = {"198.18.0.11": "02:00:00:00:04:11", "198.18.0.12": "02:00:00:00:04:12"}
MIX_RS6 = {"2001:2::11": "02:00:00:00:06:11", "2001:2::12": "02:00:00:00:06:12"}
MIX_EGRESS = {"02:00:00:00:04:11": (), "02:00:00:00:04:12": (), "02:00:00:00:06:11": (), "02:00:00:00:06:12": (10,)}


def tag(frame, vid):
    """vid None: untagged; else one 802.1Q tag (0: a priority tag)."""
    return bytes(frame) if vid is None else h.tagged(frame, vid, pcp={0: 5, 10: 3}.get(vid, 0))


def test_ipv4_ipv6_and_vlans_in_one_run_counters_exact():
    """IPv4 and IPv6 connections, untagged, VLAN 10 and priority tagged, are forwarded
    (the IPv6 RS 2001:2::12 is a static neighbour on VLAN 10: tagged 10); IPv6 not for a
    service, on an unknown VLAN or malformed is dropped under its reason; NDP and ARP for
    the VIPs are answered on the interface they came on; IPv6 to a group goes to the
    control core (and, with no kernel interface, no further). Every counter exact."""
    conf = ("port 0 address 198.18.0.2/24\nport 0 vlan 10 address 198.18.10.2/24\n"
            "vip add %s tcp 80 sched rr\nvip add %s tcp 80 sched rr\n" % (MIX_VIP4, MIX_VIP6) +
            "".join("rs add %s tcp 80 %s\n" % (MIX_VIP4, ip) for ip in MIX_RS4) +
            "".join("rs add %s tcp 80 %s\n" % (MIX_VIP6, ip) for ip in MIX_RS6) +
            "".join("neigh add %s %s\n" % kv for kv in MIX_RS4.items()) +
            "neigh add 2001:2::11 %s port 0\nneigh add 2001:2::12 %s port 0 vlan 10\n" %
            (MIX_RS6["2001:2::11"], MIX_RS6["2001:2::12"]))
    e = Ether(src=h.CLIENT_MAC, dst=h.PORT_MAC)
    vids = [None, 10, 0]
    good = []
    for i in range(12):
        c6 = tcp_conn(client(300 + i, 0x66), 11000 + i, MIX_VIP6)
        good.append([tag(p, vids[(i + k) % 3]) for k, p in enumerate(c6)])
        ip4 = IP(src="198.18.3.%d" % (i + 1), dst=MIX_VIP4)
        c4 = [e / ip4 / TCP(sport=12000 + i, dport=80, flags=fl, seq=1) for fl in ("S", "A", "PA", "FA")]
        good.append([tag(p, vids[(i + k + 1) % 3]) for k, p in enumerate(c4)])
    expected = [f for c in good for f in c]
    v6 = IPv6(src=client(400, 1), dst=MIX_VIP6)
    syn6 = e / v6 / TCP(sport=1, dport=80, flags="S")
    trunc = bytes(syn6)[:14 + 20]
    too_long = bytearray(bytes(syn6))
    too_long[14 + 4:14 + 6] = (200).to_bytes(2, "big")
    bad = {  # drop reason: frames
        "no-service": [tag(e / IPv6(src=client(400, 1), dst="2001:2::1ff") / TCP(sport=2, dport=80, flags="S"), None),
                       tag(e / v6 / TCP(sport=3, dport=81, flags="S"), 10),
                       tag(e / v6 / UDP(sport=4, dport=80), None),
                       tag(e / v6 / ICMPv6EchoRequest(id=1, seq=1), 0),
                       tag(e / IP(src="198.18.3.99", dst="198.18.1.11") / TCP(sport=5, dport=80, flags="S"), 10)],
        "vlan-unknown": [h.tagged(syn6, 30), h.tagged(ns(MIX_VIP6, *requester(30)), 30)],
        "vlan-double": [h.tagged(h.tagged(syn6, 10), 10)],
        "ip6-truncated": [trunc],
        "ip6-bad-length": [h.tagged(bytes(too_long), 10)],
        "ip-bad-src": [e / IPv6(src="ff02::1", dst=MIX_VIP6) / TCP(sport=6, dport=80, flags="S")],
    }
    ip_a, mac_a = requester(40)
    ip_b, mac_b = requester(41)
    control = [  # to the control core: NS untagged and on VLAN 10, ARP on VLAN 10, mDNS
        tag(ns(MIX_VIP6, ip_a, mac_a), None),
        tag(ns(MIX_VIP6, ip_b, mac_b), 10),
        tag(Ether(src=h.CLIENT_MAC, dst="ff:ff:ff:ff:ff:ff") /
            ARP(op=1, hwsrc=h.CLIENT_MAC, psrc="198.18.10.51", pdst=MIX_VIP4), 10),
        tag(Ether(src=h.CLIENT_MAC, dst="33:33:00:00:00:fb") / IPv6(src=client(401, 1), dst="ff02::fb") /
            UDP(sport=5353, dport=5353) / Raw(b"mdns"), None),
    ]
    extra = [f for fs in bad.values() for f in fs] + control
    # The connections' packets with an extra frame after every step-th of them.
    sent, rounds = [], h.interleave(good)
    step = len(rounds) // len(extra)
    for i, f in enumerate(rounds):
        sent.append(f)
        if i % step == step - 1 and i // step < len(extra):
            sent.append(extra[i // step])
    h.check(len(sent) == len(expected) + len(extra), "test bug: %d frames sent" % len(sent))
    res = h.run(conf, [[sent]], name="v6-mixed")
    check_clean_exit(res)

    # IPv6 forwarded exactly as expected, tags included; IPv4 too.
    flows6 = check_forwarded(res, [f for f in expected if h.parse_l2(f).type == IPV6], MIX_EGRESS)
    h.check(Counter(flows6.values()) == Counter({MIX_RS6["2001:2::11"]: 6, MIX_RS6["2001:2::12"]: 6}),
            "IPv6 rr split %s" % Counter(flows6.values()))
    pending4 = Counter(h.payload_bytes(f) for f in expected if h.parse_l2(f).type == IPV4)
    flows4 = {}
    for b, l2 in res.of_type(IPV4):
        h.check(l2.src == h.PORT_MAC and l2.dst in MIX_RS4.values() and not l2.tags,
                "IPv4 frame %r, expected untagged to an IPv4 RS" % l2)
        h.check(pending4[b[l2.offset:]] > 0, "IPv4 frame not sent so: %s" % IP(b[l2.offset:]).summary())
        pending4[b[l2.offset:]] -= 1
        ip = IP(b[l2.offset:])
        key = (ip.src, ip[TCP].sport)
        h.check(flows4.setdefault(key, l2.dst) == l2.dst, "IPv4 connection %s moved" % (key,))
    h.check(sum(pending4.values()) == 0, "%d IPv4 frames did not come out" % sum(pending4.values()))
    h.check(sorted(Counter(flows4.values()).values()) == [6, 6], "IPv4 rr split %s" % Counter(flows4.values()))

    drops = nonzero_drops(res)
    want_drops = {k: len(v) for k, v in bad.items()}
    h.check(drops == want_drops, "drops by reason:\n got      %s\n expected %s" % (drops, want_drops))
    n_ctl = len(control)
    t = res.stats["totals"]
    want = {"received": len(sent), "forwarded": len(expected), "dropped": sum(want_drops.values()), "to_control": n_ctl}
    got = {k: t[k] for k in want}
    h.check(got == want, "totals %s, expected %s" % (got, want))
    c = res.stats["control"]
    want_c = {"exception_in": n_ctl, "ndp_in": 2, "ndp_malformed": 0, "ndp_vip_replies": 2, "arp_in": 1,
              "arp_vip_replies": 1, "to_kernel_dropped": 1, "ndp_requests": 0, "arp_requests": 0}
    got_c = {k: c[k] for k in want_c}
    h.check(got_c == want_c, "control counters %s, expected %s" % (got_c, want_c))

    # Answers on the interface asked on; announcements on every interface (neither VIP is
    # in a subnet of one: both routed).
    nas = [(IPv6(b[l2.offset:]), l2) for b, l2 in ipv6_out(res) if is_ndp(b, l2)]
    for ip_q, mac_q, vids_want in ((ip_a, mac_a, ()), (ip_b, mac_b, (10,))):
        got = [(ip6, l2) for ip6, l2 in nas if ip6.dst == ip_q]
        h.check(len(got) == 1 and tuple(got[0][1].vids) == vids_want and got[0][1].dst == mac_q and
                got[0][0][ICMPv6ND_NA].tgt == MIX_VIP6,
                "NS from %s: answers %s, expected one with VIDs %s" % (ip_q, [(a.summary(), l2) for a, l2 in got],
                                                                      list(vids_want)))
    arps = [(ARP(b[l2.offset:]), l2) for b, l2 in res.of_type(ARP_TYPE)]
    rep = [(a, l2) for a, l2 in arps if a.op == 2]
    h.check(len(rep) == 1 and tuple(rep[0][1].vids) == (10,) and rep[0][0].psrc == MIX_VIP4,
            "ARP replies %s" % [(a.summary(), l2) for a, l2 in rep])
    ann6 = {tuple(l2.vids) for ip6, l2 in nas if ip6.dst == "ff02::1" and ip6[ICMPv6ND_NA].tgt == MIX_VIP6}
    ann4 = {tuple(l2.vids) for a, l2 in arps if a.op == 1 and a.psrc == a.pdst == MIX_VIP4}
    h.check(ann6 == {(), (10,)} and ann4 == {(), (10,)},
            "announced on (VIDs): IPv6 VIP %s, IPv4 VIP %s; expected both untagged and on VLAN 10" %
            (sorted(ann6), sorted(ann4)))
    # Everything the control core sent is accounted for.
    sent_ctl = c["ndp_vip_replies"] + c["ndp_announces"] + c["arp_vip_replies"] + c["arp_announces"]
    h.check(t["from_control"] == sent_ctl, "from_control %d, the control core's counters say %d" %
            (t["from_control"], sent_ctl))
    h.check(len(res.frames()) == len(expected) + sent_ctl,
            "%d frames out, expected %d forwarded and %d from the control core" %
            (len(res.frames()), len(expected), sent_ctl))


# ---- views and refusals at run time --------------------------------------------------

VIEW_CONF = ("port 0 address 198.18.0.2/24\n"
             "vip add 2001:2::100 tcp 80 sched mh\n"
             "rs add 2001:2::100 tcp 80 2001:2::11 weight 2\n"
             "ipvsadm -a -t [2001:2::100]:80 -r [2001:2::12]:80 -g -w 1\n"
             "ipvsadm -A -u [2001:2::100]:53 -s sh -p 60 -M 64\n"
             "ipvsadm -a -u [2001:2::100]:53 -r [2001:2::13]:53 -g -w 1\n"
             "vip add 198.18.1.10 tcp 80 sched rr\n"
             "rs add 198.18.1.10 tcp 80 198.18.0.11\n"
             "neigh add 198.18.0.11 02:00:00:00:00:11\n" + neighbours())


def rs_line(addr, weight, active=0, inactive=0):
    return "  -> %-28s %-7s %-6d %-10u %-10u" % (addr, "Route", weight, active, inactive)


def conn_line(proto, state, source, virtual, destination, expire=""):
    """An ipvsadm -L -c row (print_conn's columns; IPv6 addresses overflow them)."""
    return "%-3s %-6s %-11s %-18s %-18s %s" % (proto, expire, state, source, virtual, destination)


def conn_rows(listing):
    """The rows of ipvsadm -L -c output after its two header lines, each with its expiry
    column blanked, and the expiries in seconds (checked as MM:SS)."""
    rows = listing.splitlines()
    h.check(rows[:2] == ["IPVS connection entries",
                         "pro expire state       source             virtual            destination"],
            "ipvsadm -L -c headers:\n" + listing)
    out, expires = [], []
    for row in rows[2:]:
        m = re.fullmatch(r"(\d\d):(\d\d)", row[4:9])
        h.check(m is not None and row[9] == " ", "expiry not MM:SS in %r" % row)
        expires.append(int(m.group(1)) * 60 + int(m.group(2)))
        out.append(row[:4] + " " * 7 + row[11:])  # "%-6s " blank
    return out, expires


def blocks(listing):
    """ipvsadm -L output: {service line: [its RS lines]}. The headers (the version line
    only when listing all, as ipvsadm) are skipped."""
    out, cur = {}, None
    headers = ("IP Virtual Server version", "Prot LocalAddress:Port", "  -> RemoteAddress:Port")
    for line in listing.splitlines():
        if line.startswith(headers):
            continue
        if line.startswith("  ->"):
            h.check(cur is not None, "an RS line before any service:\n" + listing)
            out[cur].append(line)
        else:
            cur = line
            out[cur] = []
    return out


def test_views_and_refusals_at_run_time():
    syns = [tcp_conn(client(500, 1), 13000 + i, "2001:2::100")[0] for i in range(6)]
    e = Ether(src=h.CLIENT_MAC, dst=h.PORT_MAC)
    # A UDP flow to the persistent /64 service (a connection and its template) and an IPv4
    # connection: listed with the IPv6 ones, filtered apart.
    udp = e / IPv6(src=client(500, 2), dst="2001:2::100") / UDP(sport=5353, dport=53) / Raw(b"q")
    syn4 = e / IP(src="198.18.3.1", dst="198.18.1.10") / TCP(sport=14000, dport=80, flags="S", seq=1)
    with h.Drfwd(VIEW_CONF, rx=syns + [udp, syn4], name="v6-views") as d:
        d.wait_rx(len(syns) + 2)
        d.wait_socket()
        r = d.ctl("ipvsadm", "-L", "-n")
        h.check(r.returncode == 0, r.stderr)
        got = blocks(r.stdout)
        want6 = {"TCP  [2001:2::100]:80 mh": ["2001:2::11", "2001:2::12"],
                 "UDP  [2001:2::100]:53 sh persistent 60 mask 64": ["2001:2::13"],
                 "TCP  198.18.1.10:80 rr": ["198.18.0.11"]}
        h.check(set(got) == set(want6), "ipvsadm -L -n services %s, expected %s:\n%s" %
                (sorted(got), sorted(want6), r.stdout))
        # The six SYNs (mh) are SYN_RECV connections: inactive, however mh spread them.
        tcp6 = got["TCP  [2001:2::100]:80 mh"]
        h.check(len(tcp6) == 2 and all(len(l.split()) == 6 for l in tcp6), "RS lines:\n" + r.stdout)
        inact = [int(l.split()[-1]) for l in tcp6]
        act = [int(l.split()[-2]) for l in tcp6]
        h.check(sum(inact) == 6 and sum(act) == 0, "ActiveConn %s InActConn %s after 6 SYNs" % (act, inact))
        h.check(tcp6 == [rs_line("[2001:2::11]:80", 2, 0, inact[0]), rs_line("[2001:2::12]:80", 1, 0, inact[1])],
                "RS lines not in ipvsadm's columns:\n%s" % "\n".join(tcp6))
        h.check(got["UDP  [2001:2::100]:53 sh persistent 60 mask 64"] == [rs_line("[2001:2::13]:53", 1, 1, 0)],
                "UDP service's RS lines (the UDP connection is active):\n%s" % r.stdout)

        r = d.ctl("ipvsadm", "-L", "-n", "-t", "[2001:2::100]:80")
        h.check(r.returncode == 0 and list(blocks(r.stdout)) == ["TCP  [2001:2::100]:80 mh"],
                "ipvsadm -L -n -t [2001:2::100]:80:\n%s%s" % (r.stdout, r.stderr))

        # Connections of both families: ipvsadm -L -c -n lists every one, IPv6 addresses
        # as [addr]:port in ipvsadm's columns; the UDP flow's persistence template with
        # the client's /64 and port 0, state NONE.
        r = d.ctl("ipvsadm", "-L", "-c", "-n")
        h.check(r.returncode == 0, r.stderr)
        rows, expires = conn_rows(r.stdout)
        udp_rows = [conn_line("UDP", "UDP", "[%s]:5353" % client(500, 2), "[2001:2::100]:53", "[2001:2::13]:53"),
                    conn_line("UDP", "NONE", "[2001:2:0:11f4::]:0", "[2001:2::100]:53", "[2001:2::13]:53")]
        tcp_rows = {conn_line("TCP", "SYN_RECV", "[%s]:%d" % (client(500, 1), 13000 + i), "[2001:2::100]:80",
                              "[%s]:80" % rs): rs for i in range(6) for rs in ("2001:2::11", "2001:2::12")}
        v4_row = conn_line("TCP", "SYN_RECV", "198.18.3.1:14000", "198.18.1.10:80", "198.18.0.11:80")
        h.check(len(rows) == 9 and all(x in rows for x in udp_rows) and v4_row in rows,
                "ipvsadm -L -c -n rows:\n%s" % r.stdout)
        on = Counter(tcp_rows[x] for x in rows if x in tcp_rows)
        h.check(sum(on.values()) == 6 and [on["2001:2::11"], on["2001:2::12"]] == inact,
                "TCP rows %s, InActConn %s:\n%s" % (dict(on), inact, r.stdout))
        # Expiry: SYN_RECV 60 s, UDP 300 s, the template the service's 60 s.
        for row, left in zip(rows, expires):
            top = 300 if row.split()[1] == "UDP" else 60
            h.check(top - 10 <= left <= top, "%d s left in %r" % (left, row))

        # Filtered by a service or VIP of either family: the other family's entries never.
        for words, want in ((["-t", "[2001:2::100]:80"], 6), (["-u", "[2001:2::100]:53"], 2),
                            (["-t", "198.18.1.10:80"], 1)):
            r = d.ctl("ipvsadm", "-L", "-c", "-n", *words)
            got_rows, _ = conn_rows(r.stdout)
            vip = words[1].rsplit(":", 1)[0]
            h.check(r.returncode == 0 and len(got_rows) == want and all(x.split()[3] == words[1] for x in got_rows),
                    "ipvsadm -L -c -n %s: %d rows, expected %d:\n%s%s" %
                    (" ".join(words), len(got_rows), want, r.stdout, r.stderr))
            h.check(all(("[" in x) == vip.startswith("[") for x in got_rows), "other family listed:\n" + r.stdout)
        r = d.ctl("show", "conns", "2001:2::100")
        shown = r.stdout.splitlines()
        h.check(r.returncode == 0 and len(shown) == 1 + 8 + 1 and
                all(x.split()[2] in ("[2001:2::100]:80", "[2001:2::100]:53") for x in shown[1:-1]) and
                shown[-1] == "8 shown, 9 entries in the connection tables",
                "show conns 2001:2::100:\n%s%s" % (r.stdout, r.stderr))
        template = "%-4s %-21s %-21s %-21s %-12s " % ("UDP", "[2001:2:0:11f4::]:0", "[2001:2::100]:53",
                                                      "[2001:2::13]:53", "NONE")
        h.check(any(x.startswith(template) for x in shown), "show conns lacks the template:\n" + r.stdout)
        r = d.ctl("show", "conns", "198.18.1.10")
        shown = r.stdout.splitlines()
        h.check(r.returncode == 0 and len(shown) == 3 and shown[1].split()[:4] ==
                ["TCP", "198.18.3.1:14000", "198.18.1.10:80", "198.18.0.11:80"] and "[" not in r.stdout,
                "show conns 198.18.1.10:\n%s%s" % (r.stdout, r.stderr))
        r = d.ctl("show", "conns", "2001:2::101")
        header = "%-4s %-21s %-21s %-21s %-12s %s" % ("PRO", "CLIENT", "VIRTUAL", "REAL SERVER", "STATE", "EXPIRES")
        h.check(r.stdout.splitlines() == [header, "0 shown, 9 entries in the connection tables"],
                "show conns of a VIP without connections:\n" + r.stdout)

        r = d.ctl("ipvsadm", "-S", "-n")
        save = r.stdout.splitlines()
        want_save = ["-A -t [2001:2::100]:80 -s mh",
                     "-a -t [2001:2::100]:80 -r [2001:2::11]:80 -g -w 2",
                     "-a -t [2001:2::100]:80 -r [2001:2::12]:80 -g -w 1",
                     "-A -u [2001:2::100]:53 -s sh -p 60 -M 64",
                     "-a -u [2001:2::100]:53 -r [2001:2::13]:53 -g -w 1",
                     "-A -t 198.18.1.10:80 -s rr",
                     "-a -t 198.18.1.10:80 -r 198.18.0.11:80 -g -w 1"]
        h.check(sorted(save) == sorted(want_save), "ipvsadm -S -n:\n%s" % r.stdout)

        shown = d.ctl("show", "config").stdout
        lines = shown.splitlines()
        for want in ("vip add 2001:2::100 tcp 80 sched mh",
                     "rs add 2001:2::100 tcp 80 2001:2::11 weight 2",
                     "rs add 2001:2::100 tcp 80 2001:2::12 weight 1",
                     "vip add 2001:2::100 udp 53 sched sh persist 60 netmask 64",
                     "rs add 2001:2::100 udp 53 2001:2::13 weight 1",
                     "neigh add 2001:2::11 02:00:00:00:00:11 port 0"):
            h.check(want in lines, "show config lacks %r:\n%s" % (want, shown))

        # Refused: a real server of the other family (both ways, both grammars), an
        # IPv6 VIP that cannot be one; nothing changes.
        for bad, says in ((["rs", "add", "2001:2::100", "tcp", "80", "198.18.0.11"], ("IPv4", "IPv6")),
                          (["ipvsadm", "-a", "-t", "[2001:2::100]:80", "-r", "198.18.0.11:80", "-g"], ("IPv4", "IPv6")),
                          (["rs", "add", "198.18.1.10", "tcp", "80", "2001:2::11"], ("IPv4", "IPv6")),
                          (["vip", "add", "fe80::1", "tcp", "80"], ("fe80::1",)),
                          (["vip", "add", "ff02::1", "tcp", "80"], ("ff02::1",)),
                          (["vip", "add", "::ffff:198.18.1.20", "tcp", "80"], ()),
                          (["rs", "add", "2001:2::100", "tcp", "80", "[2001:2::14]:81"], ())):
            r = d.ctl(*bad)
            h.check(r.returncode == 1 and r.stderr.strip(), "%s accepted: rc %d %s %s" %
                    (" ".join(bad), r.returncode, r.stdout, r.stderr))
            for s in says:
                h.check(s.lower() in r.stderr.lower(), "%s: the message does not say %r: %s" %
                        (" ".join(bad), s, r.stderr.strip()))
        h.check(d.ctl("show", "config").stdout == shown, "a refused command changed the configuration")

        # Round trip: what -S printed, restored after a clear, lists the same; a weight
        # change through ipvsadm -e shows.
        h.check(d.ctl("ipvsadm", "-C").returncode == 0, "ipvsadm -C")
        h.check("[2001:2::100]" not in d.ctl("ipvsadm", "-S", "-n").stdout, "ipvsadm -C left IPv6 services")
        r = d.ctl("-R", stdin_text="\n".join(save) + "\n")
        h.check(r.returncode == 0, "restoring ipvsadm -S output refused: %s" % r.stderr)
        again = d.ctl("ipvsadm", "-S", "-n").stdout.splitlines()
        h.check(again == save, "ipvsadm -S -n after -C and -R:\n%s\nbefore:\n%s" % ("\n".join(again), "\n".join(save)))
        r = d.ctl("ipvsadm", "-e", "-t", "[2001:2::100]:80", "-r", "[2001:2::12]:80", "-g", "-w", "5")
        h.check(r.returncode == 0, "ipvsadm -e refused: %s" % r.stderr)
        h.check("-a -t [2001:2::100]:80 -r [2001:2::12]:80 -g -w 5" in d.ctl("ipvsadm", "-S", "-n").stdout.splitlines(),
                "weight change not saved:\n" + d.ctl("ipvsadm", "-S", "-n").stdout)
        h.check(re.search(r"^rs add 2001:2::100 tcp 80 2001:2::12 weight 5$", d.ctl("show", "config").stdout, re.M),
                "weight change not in show config")
        final = d.ctl("show", "config").stdout
    # show config loads back to the same configuration.
    with h.Drfwd(final, rx=syns[:1], name="v6-reload") as d2:
        d2.wait_socket()
        again = d2.ctl("show", "config").stdout
        h.check(again == final, "show config differs after a restart from it:\n%s\n---\n%s" % (final, again))
