"""pcap tier: two workers (two RX queues), as RSS would split flows on a NIC.

net_pcap has no RSS, so the flows are split here the way RSS would: a flow always on
the same queue. Both workers must forward, each connection must stay on one RS, and
round robin must still split connections evenly (each worker runs its own rotation).
"""
from collections import Counter

from scapy.all import IP, TCP, Ether, Raw

import harness as h

VIP = "198.18.1.10"
CONF = ("port 0 address 198.18.0.2/24\nvip add %s tcp 80 sched rr\n"
        "rs add %s tcp 80 198.18.0.11\nrs add %s tcp 80 198.18.0.12\n"
        "neigh add 198.18.0.11 02:00:00:00:00:11\nneigh add 198.18.0.12 02:00:00:00:00:12\n") % (VIP, VIP, VIP)


def test_two_workers_share_the_load():
    e = Ether(src=h.CLIENT_MAC, dst=h.PORT_MAC)
    queues = [[], []]
    for i in range(200):
        src = "198.18.%d.%d" % (2 + i // 100, 1 + i % 100)
        conn = [e / IP(src=src, dst=VIP) / TCP(sport=20000 + i, dport=80, flags=f) / Raw(b"%d" % i)
                for f in ("S", "A", "PA")]
        queues[i % 2] += conn
    res = h.run(CONF, [queues], workers=2, name="workers")
    h.check(res.rc == 0, "exit %d: %s" % (res.rc, res.stderr))
    workers = res.stats["workers"]
    h.check(len(workers) == 2, "expected 2 workers, stats show %d" % len(workers))
    h.check(all(w["forwarded"] == 300 for w in workers), "per-worker forwarded %s" % [w["forwarded"] for w in workers])
    out = res.forwarded()
    h.check(len(out) == 600, "forwarded %d of 600" % len(out))
    conn_rs = {}
    for p in out:
        h.check(conn_rs.setdefault(p[TCP].sport, p[Ether].dst) == p[Ether].dst, "connection moved RS")
        h.check(p[Ether].src == h.PORT_MAC, "wrong source MAC")
    per_rs = Counter(conn_rs.values())
    h.check(per_rs == Counter({"02:00:00:00:00:11": 100, "02:00:00:00:00:12": 100}), "split %s" % dict(per_rs))
    h.check(res.stats["mbufs_leaked"] == 0, "mbufs leaked")
