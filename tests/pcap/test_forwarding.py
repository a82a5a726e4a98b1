"""pcap tier: forwarding and scheduling, checked frame by frame.

Every forwarded frame must carry the chosen RS's MAC as destination and the port's MAC
as source, with everything from the EtherType on byte-identical to what came in; one
connection must stay on one RS; each scheduler must distribute as documented.
"""
from collections import Counter, defaultdict

from scapy.all import ICMP, IP, TCP, UDP, Ether, Raw

import harness as h

RS_MACS = {"198.18.0.11": "02:00:00:00:00:11", "198.18.0.12": "02:00:00:00:00:12",
           "198.18.0.13": "02:00:00:00:00:13", "198.18.0.14": "02:00:00:00:00:14"}
MAC_RS = {v: k for k, v in RS_MACS.items()}
VIP = "198.18.1.10"


def neighbours(ips=RS_MACS):
    return "".join("neigh add %s %s\n" % (ip, RS_MACS[ip]) for ip in ips)


def base(sched="rr", rs=("198.18.0.11", "198.18.0.12"), weights=None, extra_vip=""):
    conf = "port 0 address 198.18.0.2/24\nvip add %s tcp 80 sched %s %s\n" % (VIP, sched, extra_vip)
    for i, ip in enumerate(rs):
        conf += "rs add %s tcp 80 %s%s\n" % (VIP, ip, " weight %d" % weights[i] if weights else "")
    return conf + neighbours()


def tcp_conn(src, sport, payload=b"GET / HTTP/1.1\r\n\r\n", dport=80):
    e = Ether(src=h.CLIENT_MAC, dst=h.PORT_MAC)
    ip = IP(src=src, dst=VIP, id=sport)
    return [e / ip / TCP(sport=sport, dport=dport, flags="S", seq=1),
            e / ip / TCP(sport=sport, dport=dport, flags="A", seq=2, ack=1),
            e / ip / TCP(sport=sport, dport=dport, flags="PA", seq=2, ack=1) / Raw(payload),
            e / ip / TCP(sport=sport, dport=dport, flags="FA", seq=2 + len(payload), ack=1)]



def clients(n, per_client=1, base_port=10000):
    return [("198.18.%d.%d" % (2 + c // 250, 1 + c % 250), base_port + k) for c in range(n) for k in range(per_client)]


def check_frames(res, sent):
    """Every output frame is an input frame with only the Ethernet addresses rewritten."""
    by_l3 = Counter(h.l3_bytes(p) for p in sent)
    conn_rs = {}
    per_rs = Counter()
    for p in res.forwarded():
        h.check(p[Ether].src == h.PORT_MAC, "source MAC %s is not the port's" % p[Ether].src)
        h.check(p[Ether].dst in MAC_RS, "destination MAC %s is not a real server" % p[Ether].dst)
        l3 = h.l3_bytes(p)
        h.check(by_l3[l3] > 0, "forwarded frame was not sent (IP or payload changed): %s" % p.summary())
        by_l3[l3] -= 1
        key = (p[IP].src, p[IP].sport if p.haslayer(TCP) or p.haslayer(UDP) else 0, p[IP].proto)
        rs = MAC_RS[p[Ether].dst]
        h.check(conn_rs.setdefault(key, rs) == rs, "connection %s moved from %s to %s" % (key, conn_rs[key], rs))
    for key, rs in conn_rs.items():
        per_rs[rs] += 1
    return conn_rs, per_rs


def test_round_robin_forwarding():
    conns = [tcp_conn(ip, port) for ip, port in clients(200)]
    sent = h.interleave(conns)
    res = h.run(base("rr"), [[sent]], name="rr")
    h.check(res.rc == 0, "exit status %d: %s" % (res.rc, res.stderr))
    h.check(len(res.forwarded()) == 800, "forwarded %d of 800" % len(res.forwarded()))
    conn_rs, per_rs = check_frames(res, sent)
    h.check(per_rs == Counter({"198.18.0.11": 100, "198.18.0.12": 100}), "rr split %s" % dict(per_rs))
    h.check(res.total("forwarded") == 800 and res.total("dropped") == 0, "totals %s" % res.stats["totals"])
    rs_stats = {r["ip"]: r for r in res.stats["services"][0]["real_servers"]}
    h.check(rs_stats["198.18.0.11"]["conns"] == 100 and rs_stats["198.18.0.12"]["packets"] == 400,
            "per-RS counters %s" % rs_stats)
    h.check(res.stats["mbufs_leaked"] == 0, "mbufs leaked: %d" % res.stats["mbufs_leaked"])
    h.check(res.stats["conn_tables_consistent"], "connection table inconsistent at exit")
    h.check("Rx-pps:" in res.stdout and "Tx-pps:" in res.stdout, "no testpmd-style rate lines")


def test_ipvsadm_configuration_behaves_the_same():
    conf = ("port 0 address 198.18.0.2/24\n"
            "ipvsadm -A -t %s:80 -s rr\n"
            "ipvsadm -a -t %s:80 -r 198.18.0.11:80 -g\n"
            "ipvsadm -a -t %s:80 -r 198.18.0.12:80 -g\n" % (VIP, VIP, VIP)) + neighbours()
    sent = h.interleave([tcp_conn(ip, port) for ip, port in clients(50)])
    res = h.run(conf, [[sent]], name="ipvsadm")
    h.check(res.rc == 0, res.stderr)
    _, per_rs = check_frames(res, sent)
    h.check(per_rs == Counter({"198.18.0.11": 25, "198.18.0.12": 25}), "rr split %s" % dict(per_rs))


def test_weighted_round_robin():
    sent = h.interleave([tcp_conn(ip, port)[:2] for ip, port in clients(200)])
    res = h.run(base("wrr", weights=[3, 1]), [[sent]], name="wrr")
    h.check(res.rc == 0, res.stderr)
    _, per_rs = check_frames(res, sent)
    h.check(per_rs == Counter({"198.18.0.11": 150, "198.18.0.12": 50}), "wrr 3:1 split %s" % dict(per_rs))


def test_weight_zero_gets_no_new_connections():
    sent = h.interleave([tcp_conn(ip, port)[:1] for ip, port in clients(60)])
    res = h.run(base("rr", rs=("198.18.0.11", "198.18.0.12", "198.18.0.13"), weights=[1, 0, 1]), [[sent]],
                name="drain")
    h.check(res.rc == 0, res.stderr)
    _, per_rs = check_frames(res, sent)
    h.check(per_rs["198.18.0.12"] == 0, "drained RS got %d connections" % per_rs["198.18.0.12"])
    h.check(per_rs["198.18.0.11"] == 30 and per_rs["198.18.0.13"] == 30, "split %s" % dict(per_rs))


def test_source_hash_keeps_clients_together():
    sent = h.interleave([tcp_conn(ip, port)[:2] for ip, port in clients(90, per_client=4)])
    res = h.run(base("sh", rs=("198.18.0.11", "198.18.0.12", "198.18.0.13")), [[sent]], name="sh")
    h.check(res.rc == 0, res.stderr)
    conn_rs, per_rs = check_frames(res, sent)
    rs_of_client(conn_rs)
    h.check(all(per_rs[r] > 60 for r in ("198.18.0.11", "198.18.0.12", "198.18.0.13")), "sh spread %s" % dict(per_rs))


def rs_of_client(conn_rs):
    """Each client's single RS; fails if a client's connections were split."""
    by_client = defaultdict(set)
    for (src, _, _), rs in conn_rs.items():
        by_client[src].add(rs)
    split = [c for c, v in by_client.items() if len(v) != 1]
    h.check(not split, "clients split across RSs: %s" % split[:5])
    return {c: next(iter(v)) for c, v in by_client.items()}


def choices(sched, rs, sent, name):
    res = h.run(base(sched, rs=rs), [[sent]], name=name)
    h.check(res.rc == 0, res.stderr)
    conn_rs, per_rs = check_frames(res, sent)
    return conn_rs, per_rs


def test_hash_schedulers_do_not_depend_on_rs_order():
    sent = [c[0] for c in (tcp_conn(ip, port) for ip, port in clients(300))]
    for sched in ("mh", "hash"):
        a, per_rs = choices(sched, ("198.18.0.11", "198.18.0.12", "198.18.0.13"), sent, sched + "-a")
        b, _ = choices(sched, ("198.18.0.13", "198.18.0.11", "198.18.0.12"), sent, sched + "-b")
        h.check(a == b, "%s: choices changed with the order RSs were added" % sched)
        h.check(all(per_rs[r] > 60 for r in ("198.18.0.11", "198.18.0.12", "198.18.0.13")),
                "%s spread %s" % (sched, dict(per_rs)))


def test_maglev_moves_only_the_departed_rs_flows():
    sent = [c[0] for c in (tcp_conn(ip, port) for ip, port in clients(400))]
    four = ("198.18.0.11", "198.18.0.12", "198.18.0.13", "198.18.0.14")
    before, _ = choices("mh", four, sent, "mh-4")
    after, _ = choices("mh", four[:3], sent, "mh-3")
    kept = [k for k, rs in before.items() if rs != "198.18.0.14"]
    moved = sum(1 for k in kept if after[k] != before[k])
    h.check(moved <= len(kept) * 0.05, "%d of %d flows on surviving RSs moved" % (moved, len(kept)))


def test_udp_service_is_sticky_per_flow():
    conf = ("port 0 address 198.18.0.2/24\nipvsadm -A -u %s:53 -s rr\n"
            "ipvsadm -a -u %s:53 -r 198.18.0.11\nipvsadm -a -u %s:53 -r 198.18.0.12\n" % (VIP, VIP, VIP)) + neighbours()
    e = Ether(src=h.CLIENT_MAC, dst=h.PORT_MAC)
    flows = [[e / IP(src=ip, dst=VIP) / UDP(sport=port, dport=53) / Raw(b"q%d" % i) for i in range(3)]
             for ip, port in clients(40)]
    sent = h.interleave(flows)
    res = h.run(conf, [[sent]], name="udp")
    h.check(res.rc == 0, res.stderr)
    _, per_rs = check_frames(res, sent)
    h.check(len(res.forwarded()) == 120, "forwarded %d of 120" % len(res.forwarded()))
    h.check(per_rs == Counter({"198.18.0.11": 20, "198.18.0.12": 20}), "udp rr split %s" % dict(per_rs))


def test_persistence_overrides_round_robin():
    sent = h.interleave([tcp_conn(ip, port)[:1] for ip, port in clients(20, per_client=5)])
    res = h.run(base("rr", extra_vip="persist 300"), [[sent]], name="persist")
    h.check(res.rc == 0, res.stderr)
    conn_rs, per_rs = check_frames(res, sent)
    h.check(len(set(rs_of_client(conn_rs).values())) == 2, "all clients on one RS")


def test_rs_on_a_second_port():
    conf = ("port 0 address 198.18.0.2/24\nport 1 address 198.18.8.2/24\n"
            "vip add %s tcp 80 sched rr\nrs add %s tcp 80 198.18.8.11\nrs add %s tcp 80 198.18.8.12\n"
            "neigh add 198.18.8.11 02:00:00:00:00:11\nneigh add 198.18.8.12 02:00:00:00:00:12\n" % (VIP, VIP, VIP))
    sent = h.interleave([tcp_conn(ip, port)[:2] for ip, port in clients(20)])
    res = h.run(conf, [[sent], []], ports=2, name="2ports")
    h.check(res.rc == 0, res.stderr)
    h.check(len(res.forwarded(0)) == 0, "forwarded out of the client port")
    out = res.forwarded(1)
    h.check(len(out) == 40, "forwarded %d of 40 out of port 1" % len(out))
    h.check(all(p[Ether].src == h.PORT1_MAC for p in out), "source MAC is not port 1's")



def frag_needed(src, sport, mtu=1400, router="198.18.9.1"):
    """What a router sends when a real server's reply (from the VIP) is too big for the
    client's path: ICMP fragmentation needed, quoting that reply's headers, to the VIP."""
    reply = IP(src=VIP, dst=src, id=7) / TCP(sport=80, dport=sport, flags="A", seq=1, ack=2) / Raw(b"r" * 1400)
    return (Ether(src=h.CLIENT_MAC, dst=h.PORT_MAC) / IP(src=router, dst=VIP) /
            ICMP(type=3, code=4, nexthopmtu=mtu) / Raw(bytes(reply)[:28]))


def test_icmp_errors_reach_the_connections_real_server():
    """PMTU discovery through drfwd: "fragmentation needed" about a real server's reply
    is forwarded, unchanged, to that real server; about an unknown connection (round
    robin) it is dropped and counted; it creates no connection."""
    cl = clients(20)
    conns = [tcp_conn(ip, port) for ip, port in cl]
    errors = [frag_needed(ip, port) for ip, port in cl]
    unknown = [frag_needed("198.18.7.7", 555)]
    sent = h.interleave([c[:2] for c in conns]) + errors + unknown
    res = h.run(base("rr"), [[sent]], name="icmp")
    h.check(res.rc == 0, "exit status %d: %s" % (res.rc, res.stderr))
    out = res.forwarded()
    h.check(len(out) == 60, "forwarded %d of 60" % len(out))
    conn_rs = {}
    for p in out[:40]:
        conn_rs[(p[IP].src, p[TCP].sport)] = p[Ether].dst
    for p, want in zip(out[40:], errors):
        h.check(p.haslayer(ICMP) and h.l3_bytes(p) == h.l3_bytes(want), "not the ICMP error as sent: " + p.summary())
        quoted = IP(bytes(p[ICMP].payload))
        key = (quoted.dst, quoted[TCP].dport)
        h.check(p[Ether].dst == conn_rs[key], "error about %s went to %s, the connection is on %s" %
                (key, p[Ether].dst, conn_rs[key]))
    h.check(res.drops().get("icmp-no-conn") == 1, "drops %s" % {k: v for k, v in res.drops().items() if v})
    w = res.stats["workers"][0]
    h.check(w["icmp_forwarded"] == 20 and w["conn_new"] == 20, "icmp_forwarded %d, conn_new %d" %
            (w["icmp_forwarded"], w["conn_new"]))
