"""pcap tier: VLAN interfaces (802.1Q) on one port.

Port 0 has its untagged interface (198.18.0.2/24) and VLAN interfaces 10 (198.18.10.2/24)
and 20 (198.18.20.2/24). Every frame drfwd sends is checked by its tags:
- forwarding: a frame to a VIP is accepted on every interface (untagged, priority
  tagged, tagged with a configured VID) and leaves through the interface of its real
  server (the longest prefix holding the RS, or a static neighbour's own port/vlan),
  tagged with that interface's VID (exactly one 802.1Q tag) or untagged, with the RS's
  MAC as destination, the port's MAC as source and the IPv4 packet byte-identical;
- ingress: an unknown VID is dropped as vlan-unknown, two tags or an 802.1ad outer tag as
  vlan-double, and nothing dropped ever comes out;
- ARP: a VIP is answered and announced only on the interfaces whose subnet holds it (a
  routed VIP on all of them), tagged as the interface; real servers are resolved from
  their interface's DIP, tagged;
- configuration: VIDs 0 and 4095 and a neighbour on an unconfigured VLAN are refused;
  show config prints the VLAN interfaces and reloads to the same configuration.

pcap has no one to answer ARP: real servers are static neighbours.
"""
import re
from collections import Counter, defaultdict

import pytest
from scapy.all import ARP, IP, TCP, Ether, Raw

import harness as h

IPV4, ARP_TYPE = 0x0800, 0x0806
PORTS = ("port 0 address 198.18.0.2/24\n"
         "port 0 vlan 10 address 198.18.10.2/24\n"
         "port 0 vlan 20 address 198.18.20.2/24\n")
VIP10 = "198.18.10.100"   # in VLAN 10's subnet, its real servers in VLAN 20's
VIP0 = "198.18.0.100"     # in the untagged subnet, its real servers too
VIPR = "198.18.1.10"      # a routed VIP: in no interface's subnet
RS20 = {"198.18.20.11": "02:00:00:00:20:11", "198.18.20.12": "02:00:00:00:20:12"}
RS0 = {"198.18.0.11": "02:00:00:00:00:11", "198.18.0.12": "02:00:00:00:00:12"}
UNTAGGED, V20 = (), (20,)


def services(sched10="rr", sched0="rr"):
    conf = "vip add %s tcp 80 sched %s\nvip add %s tcp 80 sched %s\n" % (VIP10, sched10, VIP0, sched0)
    conf += "".join("rs add %s tcp 80 %s\n" % (VIP10, ip) for ip in RS20)
    conf += "".join("rs add %s tcp 80 %s\n" % (VIP0, ip) for ip in RS0)
    # Static neighbours without port or vlan: the interface comes from the subnet.
    conf += "".join("neigh add %s %s\n" % (ip, mac) for ip, mac in list(RS20.items()) + list(RS0.items()))
    return conf


def tag(frame, vid):
    """vid None: untagged; else one 802.1Q tag (0: a priority tag). PCPs vary: they
    must not matter."""
    if vid is None:
        return bytes(frame)
    return h.tagged(frame, vid, pcp={0: 5, 10: 3}.get(vid, 0))


def tcp_conn(src, sport, vip, vids, payload=b"GET / HTTP/1.1\r\n\r\n"):
    """A TCP connection's four client packets; packet i tagged with vids[i % len(vids)]."""
    e = Ether(src=h.CLIENT_MAC, dst=h.PORT_MAC)
    ip = IP(src=src, dst=vip, id=sport)
    pkts = [e / ip / TCP(sport=sport, dport=80, flags="S", seq=1),
            e / ip / TCP(sport=sport, dport=80, flags="A", seq=2, ack=1),
            e / ip / TCP(sport=sport, dport=80, flags="PA", seq=2, ack=1) / Raw(payload),
            e / ip / TCP(sport=sport, dport=80, flags="FA", seq=2 + len(payload), ack=1)]
    return [tag(p, vids[i % len(vids)]) for i, p in enumerate(pkts)]


def interleave(conns):
    out = []
    for i in range(max(len(c) for c in conns)):
        out += [c[i] for c in conns if i < len(c)]
    return out


def check_forwarded(res, expected, egress):
    """Every IPv4 frame drfwd sent is one of `expected` (input frames, any tags), with
    only its Ethernet header changed: the port's MAC as source, an RS's MAC as
    destination, and the tags egress[RS MAC] (a tuple of VIDs, () untagged; each tag
    802.1Q). Every expected frame came out once. Returns ({(src, sport): RS MAC} and
    the RS of each new connection in output order)."""
    pending = Counter(h.payload_bytes(f) for f in expected)
    flows, order = {}, []
    out = res.of_type(IPV4)
    for b, l2 in out:
        h.check(l2.src == h.PORT_MAC, "source MAC %s is not the port's: %r" % (l2.src, l2))
        h.check(l2.dst in egress, "destination MAC %s is not a real server's: %r" % (l2.dst, l2))
        h.check(all(t[0] == h.TPID_8021Q for t in l2.tags), "not 802.1Q tags: %r" % l2)
        h.check(tuple(l2.vids) == egress[l2.dst],
                "to %s with tags %s, expected VIDs %s" % (l2.dst, l2.tags, list(egress[l2.dst])))
        payload = b[l2.offset:]
        h.check(pending[payload] > 0, "forwarded a frame that was not sent so, or not to be forwarded "
                "(IP packet changed, or a dropped frame): %s %r" % (IP(payload).summary(), l2))
        pending[payload] -= 1
        ip = IP(payload)
        key = (ip.src, ip[TCP].sport)
        if key not in flows:
            order.append(l2.dst)
        h.check(flows.setdefault(key, l2.dst) == l2.dst, "connection %s moved from %s to %s" % (key, flows[key], l2.dst))
    missing = sum(pending.values())
    h.check(missing == 0, "%d of %d expected frames did not come out (forwarded %d)" % (missing, len(expected), len(out)))
    return flows, order


def check_clean_exit(res):
    h.check(res.rc == 0, "exit status %d: %s" % (res.rc, res.stderr[-3000:]))
    h.check(res.stats["mbufs_leaked"] == 0, "mbufs leaked: %d" % res.stats["mbufs_leaked"])


def nonzero_drops(res):
    return {k: v for k, v in res.drops().items() if v}


EGRESS = {**{mac: V20 for mac in RS20.values()}, **{mac: UNTAGGED for mac in RS0.values()}}


def test_tagged_and_untagged_clients_reach_rs_on_vlan_20_round_robin():
    """Clients on VLAN 10 (the VIP's) and untagged ones: every frame leaves tagged 20
    (the RSs' VLAN), connections alternate between the two RSs."""
    conns = [tcp_conn("198.18.3.%d" % (i + 1), 10000 + i, VIP10, [10] if i % 2 == 0 else [None])
             for i in range(32)]
    sent = interleave(conns)
    res = h.run(PORTS + services("rr"), [[sent]], name="vlan-rr")
    check_clean_exit(res)
    flows, order = check_forwarded(res, sent, EGRESS)
    h.check(len(flows) == 32, "%d connections forwarded" % len(flows))
    h.check(all(order[i] != order[i + 1] for i in range(len(order) - 1)),
            "rr did not alternate: %s" % [m[-2:] for m in order])
    per_rs = Counter(flows.values())
    h.check(sorted(per_rs.values()) == [16, 16], "rr split %s" % dict(per_rs))
    h.check(res.total("forwarded") == 128 and res.total("dropped") == 0 and res.total("received") == 128,
            "totals: forwarded %d dropped %d received %d" % (res.total("forwarded"), res.total("dropped"),
                                                            res.total("received")))
    rs_stats = {r["ip"]: r for s in res.stats["services"] for r in s["real_servers"]}
    for ip in RS20:
        h.check(rs_stats[ip]["conns"] == 16 and rs_stats[ip]["packets"] == 64, "%s: %s" % (ip, rs_stats[ip]))


def test_source_hash_keeps_each_client_on_one_rs_whatever_the_tag():
    """sh: a client's connections, each sent tagged 10, untagged and priority tagged in
    turn, all go to one RS, tagged 20; the clients spread over both RSs."""
    conns = []
    for c in range(40):
        for k in range(3):
            vids = [[10, None, 0], [None, 0, 10], [0, 10, None]][(c + k) % 3]
            conns.append(tcp_conn("198.18.%d.%d" % (4 + c // 20, 1 + c % 20), 20000 + k, VIP10, vids))
    sent = interleave(conns)
    res = h.run(PORTS + services("sh"), [[sent]], name="vlan-sh")
    check_clean_exit(res)
    flows, _ = check_forwarded(res, sent, EGRESS)
    h.check(len(flows) == 120, "%d connections forwarded" % len(flows))
    per_client = defaultdict(set)
    for (src, _), rs in flows.items():
        per_client[src].add(rs)
    split = [c for c, v in per_client.items() if len(v) != 1]
    h.check(not split, "clients split across RSs: %s" % split)
    spread = Counter(next(iter(v)) for v in per_client.values())
    h.check(len(spread) == 2 and min(spread.values()) >= 5, "sh spread of 40 clients: %s" % dict(spread))
    h.check(res.total("dropped") == 0, "drops %s" % nonzero_drops(res))


def test_service_with_untagged_real_servers_leaves_untagged():
    """To the VIP whose RSs are on the untagged subnet: from VLAN 10, VLAN 20, priority
    tagged and untagged clients alike, frames leave without any tag."""
    kinds = [[10], [20], [0], [None], [10, None]]
    conns = [tcp_conn("198.18.5.%d" % (i + 1), 30000 + i, VIP0, kinds[i % len(kinds)]) for i in range(20)]
    sent = interleave(conns)
    res = h.run(PORTS + services("rr"), [[sent]], name="vlan-untagged")
    check_clean_exit(res)
    flows, order = check_forwarded(res, sent, EGRESS)
    h.check(set(flows.values()) <= set(RS0.values()), "went to %s" % set(flows.values()))
    h.check(Counter(flows.values()) == Counter({m: 10 for m in RS0.values()}), "rr split %s" % Counter(flows.values()))
    h.check(len(res.forwarded()) == 80, "%d untagged IPv4 frames out of 80" % len(res.forwarded()))


def test_static_neighbour_port_and_vlan_win():
    """A static neighbour's `port 0 vlan 20` decides its interface: for an RS in no
    interface's subnet (which would otherwise go untagged, through the only port's
    untagged interface) and for one in the untagged subnet."""
    macs = {"198.18.40.11": "02:00:00:00:40:11", "198.18.40.12": "02:00:00:00:40:12",
            "198.18.0.13": "02:00:00:00:00:13"}
    conf = (PORTS + "vip add %s tcp 80 sched rr\n" % VIPR +
            "".join("rs add %s tcp 80 %s\n" % (VIPR, ip) for ip in macs) +
            "neigh add 198.18.40.11 02:00:00:00:40:11 port 0 vlan 20\n"
            "neigh add 198.18.40.12 02:00:00:00:40:12\n"
            "neigh add 198.18.0.13 02:00:00:00:00:13 port 0 vlan 20\n")
    egress = {macs["198.18.40.11"]: V20, macs["198.18.40.12"]: UNTAGGED, macs["198.18.0.13"]: V20}
    conns = [tcp_conn("198.18.6.%d" % (i + 1), 40000 + i, VIPR, [10] if i % 2 else [None]) for i in range(30)]
    sent = interleave(conns)
    res = h.run(conf, [[sent]], name="vlan-neigh")
    check_clean_exit(res)
    flows, _ = check_forwarded(res, sent, egress)
    h.check(Counter(flows.values()) == Counter({m: 10 for m in macs.values()}), "rr split %s" % Counter(flows.values()))


def test_mixed_ingress_in_one_run_counters_exact():
    """Untagged, VLAN 10, priority-tagged (VID 0) frames to both services are forwarded;
    VLAN 30 (not configured) is dropped as vlan-unknown, an ARP request included; two
    802.1Q tags, an 802.1ad outer tag over an 802.1Q one, and a lone 802.1ad tag as
    vlan-double. Nothing dropped comes out; every counter is exact."""
    good, bad = [], []
    unknown, double = 0, 0
    for i in range(6):
        good.append(tcp_conn("198.18.7.%d" % (i + 1), 50000 + i, VIP10, [[None], [10], [0]][i % 3])[:2])
        good.append(tcp_conn("198.18.8.%d" % (i + 1), 51000 + i, VIP0, [[None], [10], [0]][i % 3])[:2])
    e = Ether(src=h.CLIENT_MAC, dst=h.PORT_MAC)
    for i in range(5):
        syn = e / IP(src="198.18.9.%d" % (i + 1), dst=VIP10) / TCP(sport=52000 + i, dport=80, flags="S")
        bad.append(h.tagged(syn, 30))
        unknown += 1
        bad.append(h.tagged(h.tagged(syn, 20), 10))                       # 0x8100 (10) / 0x8100 (20)
        bad.append(h.tagged(h.tagged(syn, 10), 100, tpid=h.TPID_8021AD))  # 0x88a8 (100) / 0x8100 (10)
        bad.append(h.tagged(syn, 10, tpid=h.TPID_8021AD))                 # 0x88a8 (10) alone
        double += 3
    arp30 = Ether(src=h.CLIENT_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=h.CLIENT_MAC, psrc="198.18.30.1",
                                                                   pdst=VIP10)
    bad.append(h.tagged(arp30, 30))
    unknown += 1
    # Good connections and bad frames interleaved: a bad frame after every good one.
    sent, rounds = [], interleave(good)
    for i, f in enumerate(rounds):
        sent += [f] + bad[i:i + 1]
    sent += bad[len(rounds):]
    expected = [f for c in good for f in c]
    res = h.run(PORTS + services("rr"), [[sent]], name="vlan-mixed")
    check_clean_exit(res)
    check_forwarded(res, expected, EGRESS)
    drops = nonzero_drops(res)
    h.check(drops == {"vlan-unknown": unknown, "vlan-double": double},
            "drops by reason:\n got      %s\n expected %s" % (drops, {"vlan-unknown": unknown, "vlan-double": double}))
    h.check("vlan" not in res.drops(), "the old drop reason 'vlan' is still counted")
    t = res.stats["totals"]
    want = {"received": len(sent), "forwarded": len(expected), "dropped": unknown + double, "to_control": 0}
    got = {k: t[k] for k in want}
    h.check(got == want, "totals %s, expected %s" % (got, want))
    p0 = res.stats["ports"][0]
    h.check(p0["received"] == len(sent) and p0["drops"]["vlan-unknown"] == unknown and
            p0["drops"]["vlan-double"] == double, "port 0 counters %s" % {k: p0[k] for k in ("received", "drops")})
    h.check(res.stats["control"]["arp_vip_replies"] == 0, "answered ARP from VLAN 30")
    h.check(not [b for b, l2 in res.of_type(ARP_TYPE) if ARP(b[l2.offset:]).op == 2], "an ARP reply came out")


# ---- ARP ----------------------------------------------------------------------------

ARP_RS = {"198.18.20.13": ("198.18.20.2", V20), "198.18.0.13": ("198.18.0.2", UNTAGGED)}
# (VLAN the request comes on, None untagged, 0 priority tag; VIP asked for; requester
#  IP; VIDs of the expected reply, or None if it must not be answered)
ARP_CASES = [
    (10, VIP10, "198.18.10.51", (10,)),
    (20, VIP10, "198.18.20.51", None),     # VIP10 is in VLAN 10's subnet only
    (None, VIP10, "198.18.0.51", None),
    (0, VIP10, "198.18.0.55", None),
    (None, VIP0, "198.18.0.52", ()),
    (10, VIP0, "198.18.10.52", None),
    (20, VIP0, "198.18.20.52", None),
    (0, VIP0, "198.18.0.54", ()),          # a priority tag counts as untagged
    (None, VIPR, "198.18.0.53", ()),       # a routed VIP: answered on every interface
    (10, VIPR, "198.18.10.53", (10,)),
    (20, VIPR, "198.18.20.53", (20,)),
]


def requester_mac(ip):
    a, b = ip.split(".")[2:]
    return "02:00:00:01:%02x:%02x" % (int(a), int(b))


@pytest.fixture(scope="module")
def arp_run():
    """One run: the VIPs of the three kinds, requests from every interface, two RSs left
    to resolve (198.18.20.13 on VLAN 20, 198.18.0.13 untagged)."""
    conf = (PORTS + services() + "vip add %s tcp 80\n" % VIPR +
            "rs add %s tcp 80 198.18.20.13\nrs add %s tcp 80 198.18.0.13\n" % (VIP10, VIP0))
    sent = []
    for vid, vip, src, _ in ARP_CASES:
        mac = requester_mac(src)
        req = Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=mac, psrc=src, hwdst="00:00:00:00:00:00",
                                                            pdst=vip)
        sent.append(tag(req, vid))
    res = h.run(conf, [[sent]], name="vlan-arp")
    check_clean_exit(res)
    arps = []
    for b, l2 in res.of_type(ARP_TYPE):
        h.check(all(t[0] == h.TPID_8021Q for t in l2.tags) and len(l2.tags) <= 1, "ARP sent with tags %r" % l2)
        arps.append((ARP(b[l2.offset:]), l2))
    return res, arps


def test_arp_answered_on_the_interfaces_whose_subnet_holds_the_vip(arp_run):
    res, arps = arp_run
    replies = defaultdict(list)
    for a, l2 in arps:
        if a.op == 2:
            replies[a.pdst].append((a, l2))
    for vid, vip, src, want in ARP_CASES:
        got = replies.pop(src, [])
        where = "request for %s %s" % (vip, "untagged" if vid is None else "tagged VLAN %d" % vid)
        if want is None:
            h.check(not got, "%s answered: %s" % (where, [(a.summary(), l2) for a, l2 in got]))
            continue
        h.check(len(got) == 1, "%s: %d replies" % (where, len(got)))
        a, l2 = got[0]
        vids = tuple(l2.vids)
        if vid == 0:
            h.check(vids in ((), (0,)), "%s: reply tagged %s (untagged or priority tagged expected)" % (where, l2.tags))
        else:
            h.check(vids == want, "%s: reply tagged %s, expected VIDs %s" % (where, l2.tags, list(want)))
        h.check(a.psrc == vip and a.hwsrc == h.PORT_MAC and l2.src == h.PORT_MAC,
                "%s: reply not for the VIP from the port's MAC: %s %r" % (where, a.summary(), l2))
        h.check(a.hwdst == requester_mac(src) and l2.dst == requester_mac(src), "%s: reply not to the requester" % where)
    h.check(not replies, "replies nobody asked for: %s" % dict(replies))
    n = sum(1 for c in ARP_CASES if c[3] is not None)
    h.check(res.stats["control"]["arp_vip_replies"] == n, "arp_vip_replies %d, expected %d" %
            (res.stats["control"]["arp_vip_replies"], n))


def test_vips_announced_on_their_interfaces_only(arp_run):
    _, arps = arp_run
    ann = [(a, l2) for a, l2 in arps if a.op == 1 and a.psrc == a.pdst]
    for a, l2 in ann:
        h.check(l2.dst == "ff:ff:ff:ff:ff:ff" and l2.src == h.PORT_MAC and a.hwsrc == h.PORT_MAC,
                "bad announcement %s %r" % (a.summary(), l2))
    got = {(a.psrc, tuple(l2.vids)) for a, l2 in ann}
    want = {(VIP10, (10,)), (VIP0, ()), (VIPR, ()), (VIPR, (10,)), (VIPR, (20,))}
    h.check(got == want, "announced (VIP, VIDs):\n got      %s\n expected %s" % (sorted(got), sorted(want)))


def test_real_servers_resolved_from_their_interface(arp_run):
    _, arps = arp_run
    asked = defaultdict(list)
    for a, l2 in arps:
        if a.op == 1 and a.psrc != a.pdst:
            asked[a.pdst].append((a, l2))
    h.check(set(asked) == set(ARP_RS), "resolution requests for %s, expected %s" % (sorted(asked), sorted(ARP_RS)))
    for rs, (dip, vids) in ARP_RS.items():
        for a, l2 in asked[rs]:
            h.check(tuple(l2.vids) == vids and a.psrc == dip and a.hwsrc == h.PORT_MAC and l2.src == h.PORT_MAC,
                    "request for %s: %s %r, expected from %s with VIDs %s" % (rs, a.summary(), l2, dip, list(vids)))


# ---- configuration ------------------------------------------------------------------

PORT_STARTED = "(net_pcap0): net_pcap MAC"


def expect_refusal(config, line, *says):
    rc, out, err = h.run_expect_failure(config)
    text = err + out
    h.check(rc != 0, "accepted (rc 0):\n%s" % config)
    h.check(PORT_STARTED not in err, "a port was started before the refusal")
    msg = [l for l in text.splitlines() if "drfwd.conf:%d:" % line in l]
    h.check(msg, "no message naming drfwd.conf:%d:\n%s" % (line, text))
    for s in says:
        h.check(s.lower() in " ".join(msg).lower(), "message does not say %r: %s" % (s, msg))
    return msg


@pytest.mark.parametrize("vid", [0, 4095])
def test_reserved_vids_refused(vid):
    expect_refusal("port 0 address 198.18.0.2/24\nport 0 vlan %d address 198.18.10.2/24\n" % vid, 2,
                   "vlan", "4094")


def test_neighbour_on_a_vlan_not_configured_refused():
    expect_refusal(PORTS + "neigh add 198.18.30.11 02:00:00:00:30:11 port 0 vlan 30\n", 4, "30")


def test_show_config_and_vlan_changes_at_runtime():
    conf = (PORTS + "port 0 vlan 4094 address 198.18.40.2/24\n" + services() +
            "neigh add 198.18.50.11 02:00:00:00:50:11 port 0 vlan 20\n")
    syn = Ether(src=h.CLIENT_MAC, dst=h.PORT_MAC) / IP(src="198.18.3.1", dst=VIP10) / TCP(sport=1, dport=80, flags="S")
    with h.Drfwd(conf, rx=[h.tagged(syn, 10)], name="vlan-show") as d:
        d.wait_socket()
        shown = d.ctl("show", "config")
        h.check(shown.returncode == 0, shown.stderr)
        lines = shown.stdout.splitlines()
        for want in ("port 0 address 198.18.0.2/24", "port 0 vlan 10 address 198.18.10.2/24",
                     "port 0 vlan 20 address 198.18.20.2/24", "port 0 vlan 4094 address 198.18.40.2/24"):
            h.check(want in lines, "show config lacks %r:\n%s" % (want, shown.stdout))
        neigh = [l for l in lines if l.startswith("neigh add 198.18.50.11 ")]
        h.check(len(neigh) == 1 and re.search(r"\bvlan 20\b", neigh[0]), "neighbour line: %s" % neigh)
        ports = d.ctl("show", "ports").stdout
        for want in ("198.18.10.2/24", "198.18.20.2/24", "4094"):
            h.check(want in ports, "show ports lacks %s:\n%s" % (want, ports))
        # net_pcap has no VLAN offload: the workers take tags out and put them in.
        rows = ports.splitlines()
        col = rows[0].split().index("VLAN-TAGS") if "VLAN-TAGS" in rows[0].split() else None
        h.check(col is not None and rows[1].split()[col] == "sw/sw",
                "show ports does not say tags are handled in software (VLAN-TAGS sw/sw):\n" + ports)
        for vid, addr in ((10, "198.18.10.2/24"), (20, "198.18.20.2/24"), (4094, "198.18.40.2/24")):
            h.check([r for r in rows if r.split()[:3] == ["vlan", str(vid), addr]],
                    "show ports has no row for VLAN %d (%s):\n%s" % (vid, addr, ports))
        nl = [l for l in d.ctl("show", "neigh").stdout.splitlines() if "198.18.50.11" in l]
        h.check(len(nl) == 1 and re.search(r"\b20\b", nl[0]), "show neigh for 198.18.50.11: %s" % nl)

        # At run time: add, re-address and remove a VLAN interface; refusals change nothing.
        r = d.ctl("port", "0", "vlan", "30", "address", "198.18.30.2/24")
        h.check(r.returncode == 0, "vlan 30 refused: %s" % r.stderr)
        r = d.ctl("neigh", "add", "198.18.30.11", "02:00:00:00:30:11", "port", "0", "vlan", "30")
        h.check(r.returncode == 0, "neighbour on vlan 30 refused: %s" % r.stderr)
        r = d.ctl("port", "0", "vlan", "10", "address", "198.18.11.2/24")
        h.check(r.returncode == 0, "re-addressing vlan 10 refused: %s" % r.stderr)
        now = d.ctl("show", "config").stdout.splitlines()
        h.check("port 0 vlan 30 address 198.18.30.2/24" in now and "port 0 vlan 10 address 198.18.11.2/24" in now and
                "port 0 vlan 10 address 198.18.10.2/24" not in now, "after changes:\n" + "\n".join(now))
        before = d.ctl("show", "config").stdout
        for bad in (["port", "0", "vlan", "4095", "address", "198.18.60.2/24"],
                    ["port", "0", "vlan", "0", "address", "198.18.60.2/24"],
                    ["neigh", "add", "198.18.31.11", "02:00:00:00:31:11", "port", "0", "vlan", "31"]):
            r = d.ctl(*bad)
            h.check(r.returncode != 0 and r.stderr.strip(), "%s accepted: %s %s" % (" ".join(bad), r.stdout, r.stderr))
        h.check(d.ctl("show", "config").stdout == before, "a refused command changed the configuration")
        h.check(d.ctl("neigh", "del", "198.18.30.11").returncode == 0, "neigh del")
        r = d.ctl("port", "0", "vlan", "30", "address", "none")
        h.check(r.returncode == 0, "removing vlan 30 refused: %s" % r.stderr)
        final = d.ctl("show", "config").stdout
        h.check(not [l for l in final.splitlines() if "vlan 30" in l], "vlan 30 still shown:\n" + final)
    # What show config prints loads back to the same configuration.
    with h.Drfwd(final, rx=[h.tagged(syn, 10)], name="vlan-reload") as d2:
        d2.wait_socket()
        again = d2.ctl("show", "config").stdout
        h.check(again == final, "show config differs after a restart from it:\n%s\n---\n%s" % (final, again))
