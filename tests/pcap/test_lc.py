"""pcap tier: IPVS's least-connection schedulers (lc, wlc, sed, nq) with weights over
long-lived connections, connection thresholds, and the even start of rr/wrr across
workers.

One drfwd run per worker count, every case a service of its own: each connection is a
SYN then an ACK (established, never closed), so when a SYN is scheduled every earlier
connection of its worker is established. With one worker the choice is exactly the
kernel's rule (the model below, written from ip_vs_lc.c, ip_vs_wlc.c, ip_vs_sed.c and
ip_vs_nq.c); with two, each worker sums both workers' counts as last stored, and the
distribution follows the rule within the staleness docs/operation.md states (at most
one connection per other worker unseen at a decision).
"""

import pytest
from scapy.all import IP, TCP, Ether, Raw

import harness as h

VIP = "198.18.1.10"
RS = ["198.18.0.11", "198.18.0.12", "198.18.0.13"]
MAC = {ip: "02:00:00:00:00:%02x" % (0x11 + i) for i, ip in enumerate(RS)}
LEAST = {"lc": 81, "wlc": 82, "sed": 83, "nq": 84}  # scheduler: service port
WEIGHTS = [1, 2, 3]
LEAST_CONNS = 25  # lc, wlc and sed end apart: 9/8/8, 5/8/12, 4/8/13
THRESHOLD_PORT = 85  # rr over .11 (uthreshold 2) and .12
THRESHOLD_CONNS = 6
# port: sched, weights. Sequences of even length: one pass split evenly between two
# workers is the sequence itself only if the second starts halfway.
EVEN = {86: ("rr", [1, 1]), 87: ("wrr", [1, 2, 3]), 88: ("wrr", [2, 2, 4])}
OVERLOAD_PORT = 89  # one RS, uthreshold 1: the second connection is dropped


def config():
    lines = ["port 0 address 198.18.0.2/24"]
    lines += ["neigh add %s %s" % (ip, MAC[ip]) for ip in RS]
    for sched, port in LEAST.items():
        lines.append("vip add %s tcp %d sched %s" % (VIP, port, sched))
        lines += ["rs add %s tcp %d %s weight %d" % (VIP, port, ip, w) for ip, w in zip(RS, WEIGHTS)]
    lines += ["ipvsadm -A -t %s:%d -s rr" % (VIP, THRESHOLD_PORT),
              "ipvsadm -a -t %s:%d -r %s -x 2" % (VIP, THRESHOLD_PORT, RS[0]),
              "ipvsadm -a -t %s:%d -r %s" % (VIP, THRESHOLD_PORT, RS[1])]
    for port, (sched, weights) in EVEN.items():
        lines.append("vip add %s tcp %d sched %s" % (VIP, port, sched))
        lines += ["rs add %s tcp %d %s weight %d" % (VIP, port, ip, w) for ip, w in zip(RS, weights)]
    lines += ["vip add %s tcp %d sched wlc" % (VIP, OVERLOAD_PORT),
              "rs add %s tcp %d %s uthreshold 1" % (VIP, OVERLOAD_PORT, RS[0])]
    return "\n".join(lines) + "\n"


def ipvs_pick(sched, active, weights):
    """The kernel's choice over established connections only (inactive 0), servers in
    address order; weight 0 never chosen."""
    least, loh = None, 0
    for i, (a, w) in enumerate(zip(active, weights)):
        if w == 0:
            continue
        if sched == "lc":
            doh = a << 8
            if least is None or doh < loh:
                least, loh = i, doh
            continue
        if sched == "nq" and a == 0:
            return i
        doh = (a << 8) if sched == "wlc" else a + 1
        if least is None or loh * w > doh * weights[least]:
            least, loh = i, doh
    return least


def model(sched, n, weights):
    """The RS (index) each of n long-lived connections goes to, in order."""
    active = [0] * len(weights)
    picks = []
    for _ in range(n):
        picks.append(ipvs_pick(sched, active, weights))
        active[picks[-1]] += 1
    return picks


def totals(picks):
    return [picks.count(i) for i in range(len(RS))]


def connections(port, count, first_client):
    """(SYN, ACK) frame pairs of `count` connections to port from distinct clients."""
    e = Ether(src=h.CLIENT_MAC, dst=h.PORT_MAC)
    out = []
    for i in range(first_client, first_client + count):
        src = "198.19.%d.%d" % (i // 250, 1 + i % 250)
        out.append([e / IP(src=src, dst=VIP) / TCP(sport=30000 + i % 30000, dport=port, flags=f) / Raw(b"x")
                    for f in ("S", "A")])
    return out


def traffic(workers):
    """Per queue, the frames: every service's connections dealt to the workers in turn
    (connection i to worker i % workers), a connection's SYN right before its ACK."""
    cases = [(port, LEAST_CONNS) for port in LEAST.values()] + [(THRESHOLD_PORT, THRESHOLD_CONNS)]
    cases += [(port, 2 * sum(pass_share(port))) for port in EVEN]
    cases += [(OVERLOAD_PORT, 2)]
    queues = [[] for _ in range(workers)]
    client = 0
    for port, count in cases:
        for i, conn in enumerate(connections(port, count, client)):
            queues[i % workers] += conn
        client += count
    return queues


def pass_share(port):
    """Each RS's turns in one pass of the service's sequence (weights over their gcd)."""
    sched, weights = EVEN[port]
    if sched == "rr":
        return [1] * len(weights)
    g = weights[0]
    for w in weights:
        while w:
            g, w = w, g % w
    return [w // g for w in weights]


RUNS = {}


def run(workers):
    """One drfwd run with `workers` workers; per service port, the RS (index in RS) of
    each connection in the order they were made, and the run's drops."""
    if workers not in RUNS:
        res = h.run(config(), [traffic(workers)], workers=workers, name="lc%d" % workers)
        h.check(res.rc == 0, "exit %d: %s" % (res.rc, res.stderr))
        h.check(res.stats["mbufs_leaked"] == 0, "mbufs leaked")
        conn_rs = {}
        for p in res.forwarded():
            key = (p[TCP].dport, p[IP].src, p[TCP].sport)
            h.check(conn_rs.setdefault(key, p[Ether].dst) == p[Ether].dst, "connection %s moved RS" % (key,))
        per_port = {}
        index = {mac: i for i, mac in enumerate(MAC[ip] for ip in RS)}
        for (port, _, sport), mac in sorted(conn_rs.items(), key=lambda kv: kv[0][2]):  # sport: in order made
            per_port.setdefault(port, []).append(index[mac])
        RUNS[workers] = (per_port, {k: v for k, v in res.drops().items() if v})
    return RUNS[workers]


@pytest.mark.parametrize("sched", sorted(LEAST))
def test_one_worker_follows_the_kernels_rule_exactly(sched):
    """Every connection where IPVS's rule sends it, in turn (nq: each idle RS first)."""
    per_port, _ = run(1)
    want = model(sched, LEAST_CONNS, WEIGHTS)
    got = per_port[LEAST[sched]]
    h.check(got == want, "%s: %s, IPVS's rule gives %s" % (sched, got, want))


@pytest.mark.parametrize("sched", sorted(LEAST))
def test_two_workers_share_one_count(sched):
    per_port, _ = run(2)
    want = totals(model(sched, LEAST_CONNS, WEIGHTS))
    got = totals(per_port[LEAST[sched]])
    h.check(sum(got) == LEAST_CONNS, "%s: %d connections forwarded" % (sched, sum(got)))
    h.check(all(abs(g - w) <= 2 for g, w in zip(got, want)),
            "%s over two workers: %s, IPVS's rule over one count gives %s" % (sched, got, want))


def test_wlc_follows_the_weights():
    for workers in (1, 2):
        got = totals(run(workers)[0][LEAST["wlc"]])
        h.check(all(abs(g - LEAST_CONNS * w / sum(WEIGHTS)) <= 2 for g, w in zip(got, WEIGHTS)),
                "%d worker(s): %s for weights %s" % (workers, got, WEIGHTS))


def test_upper_threshold_sends_the_third_connection_elsewhere():
    per_port, _ = run(1)
    h.check(per_port[THRESHOLD_PORT] == [0, 1, 0, 1, 1, 1], "rr with -x 2 on the first: %s" % per_port[THRESHOLD_PORT])
    # Two workers: each RS's count is global; at most one connection per other worker
    # can be bound at the very instant the count reaches the threshold.
    got = totals(run(2)[0][THRESHOLD_PORT])
    h.check(2 <= got[0] <= 3 and sum(got) == THRESHOLD_CONNS, "two workers, rr with -x 2: %s" % got)


def test_everything_overloaded_is_dropped_and_counted():
    """One RS with -x 1: one connection, the other's SYN and ACK dropped as rs-overloaded
    (with two workers both may race past the threshold at the same instant)."""
    for workers in (1, 2):
        per_port, drops = run(workers)
        forwarded = len(per_port[OVERLOAD_PORT])
        h.check(forwarded == 1 or (workers == 2 and forwarded == 2), "%d worker(s): %d forwarded" % (workers, forwarded))
        h.check(drops.get("rs-overloaded", 0) == 2 * (2 - forwarded), "%d worker(s): drops %s" % (workers, drops))


@pytest.mark.parametrize("port", sorted(EVEN))
def test_even_start_across_two_workers(port):
    """Connections dealt to two workers in turn: the first pass of the sequence lands
    exactly as one worker's pass would (worker 1 starts halfway: from the head, both
    would give the first half), the first two passes each RS twice its share +-1."""
    sched, weights = EVEN[port]
    share = pass_share(port)
    picks = run(2)[0][port]
    first = totals(picks[:sum(share)])[:len(share)]
    h.check(first == share, "%s %s over two workers, first pass: %s, want %s" % (sched, weights, first, share))
    both = totals(picks)[:len(share)]
    h.check(all(abs(g - 2 * s) <= 1 for g, s in zip(both, share)),
            "%s %s over two workers, two passes: %s, want %s +-1" % (sched, weights, both, [2 * s for s in share]))
