"""e2e tier, IPv6: the one-port lab made dual-stack (tools/lab.py Ipv6Lab): client
2001:2::1, drfwd's IPv6 DIP 2001:2::2/64 on drfwd0, real servers 2001:2::11 and ::12
holding the IPv6 VIP 2001:2::100 on their loopback (nginx on [::]:80), all on one
segment beside the IPv4 lab. No static neighbour anywhere: the client resolves the VIP
by neighbor solicitation (drfwd answers), drfwd the real servers from 2001:2::2, and
drfwd's kernel checks them (HTTP) from 2001:2::2 through drfwd0. Each test builds its
own lab (its own namespaces, addresses in 198.18.0.0/15 and 2001:2::/48) and deletes
it, also when it fails."""
import os
import ipaddress
import re
import sys
import time
from collections import Counter

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(TOP, "tools"))
import lab as L  # noqa: E402
from drfwdtest import check, drfwd_binary  # noqa: E402
from test_lab import answers, stop_and_check_drfwd  # noqa: E402
from test_vlan import Capture, learned_neighbours  # noqa: E402

VIP6, DIP6 = L.VIP6, L.Ipv6Lab.DIP6
RS1, RS2 = "2001:2::11", "2001:2::12"
WEB6, WEB4 = "tcp [%s]:80" % VIP6, "tcp %s:80" % L.VIP  # services as `show rs` heads them
_count = [0]


def new_lab():
    _count[0] += 1
    return L.Ipv6Lab(prefix="df6%d-%d" % (os.getpid() % 100000, _count[0]), drfwd=drfwd_binary(),
                     log=lambda *a: None)


def rs_rows(lab):
    """`show rs`: (service, RS address) -> its row (WEIGHT, HEALTH, NEIGH, MAC, ...); a
    service as its heading's first two words ("tcp [2001:2::100]:80")."""
    r = lab.ctl("show", "rs")
    check(r.returncode == 0, "show rs: %s" % r.stderr)
    rows, svc, head = {}, None, None
    for line in r.stdout.splitlines():
        w = line.split()
        if not w:
            continue
        if not line.startswith(" "):
            svc = " ".join(w[:2])
        elif w[0] == "RS":
            head = w
        elif head:
            rows[(svc, w[0])] = dict(zip(head, w))
    return rows


def health(lab, svc, rip):
    return rs_rows(lab).get((svc, rip), {}).get("HEALTH")


def wait_health(lab, svc, rip, want, timeout=5.0):
    return L.wait_for(lambda: health(lab, svc, rip) == want, timeout, 0.05)


def answers6(lab, n):
    return [lab.curl6() for _ in range(n)]


def link_local(mac):
    """fe80::/64 with the modified EUI-64 of `mac` (RFC 4291 appendix A)."""
    b = bytes(int(x, 16) for x in mac.split(":"))
    eui = bytes([b[0] ^ 2]) + b[1:3] + b"\xff\xfe" + b[3:]
    return str(ipaddress.IPv6Address(b"\xfe\x80" + bytes(6) + eui))


def ping6(lab, role, dst):
    r = lab.run(role, "ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", dst)
    check(r.returncode == 0 and " 0% packet loss" in r.stdout, "%s: ping -6 %s:\n%s" % (role, dst, r.stdout + r.stderr))
    check("duplicates" not in r.stdout, "%s: ping -6 %s, duplicate replies:\n%s" % (role, dst, r.stdout))


def stop_and_check_ndp(lab, rss=(RS1, RS2)):
    """drfwd stopped (exit accounting as every e2e test); its IPv6 servers up and
    resolved, neighbor discovery used and never contradicted."""
    stats = stop_and_check_drfwd(lab)
    c = stats["control"]
    check(c["ndp_vip_replies"] > 0 and c["ndp_requests"] > 0, "neighbor discovery unused: %s" %
          {k: v for k, v in c.items() if k.startswith("ndp_")})
    check(c["ndp_conflicting"] == 0 and c["ndp_malformed"] == 0, "ndp_conflicting %d, ndp_malformed %d" %
          (c["ndp_conflicting"], c["ndp_malformed"]))
    svc = [s for s in stats["services"] if s["vip"] == VIP6]
    check(len(svc) == 1, "IPv6 service in the JSON: %s" % [s["vip"] for s in stats["services"]])
    h = {r["ip"]: r["health"] for r in svc[0]["real_servers"]}
    check(h == {rip: "up" for rip in rss}, "IPv6 health %s" % h)
    nb = {n["ip"]: n for n in stats["neighbours"]}
    for rip in rss:
        check(nb.get(rip, {}).get("state") == "reachable", "neighbour %s in the JSON: %s" % (rip, nb.get(rip)))
    return stats


def test_ipv6_round_robin_ndp_and_kernel_path():
    """40 requests to http://[2001:2::100]/ alternate between the two real servers; the
    client resolved the VIP to drfwd's MAC, and a solicitation for it is answered by
    drfwd alone (not by the real servers holding it on lo); the DIP by drfwd's kernel,
    once; an address nobody holds by nobody. The client and a real server ping the IPv6
    DIP (the kernel path). drfwd resolved both servers (no static entry), soliciting
    from the DIP. IPv4 still works beside it."""
    with new_lab() as lab:
        lb_mac = lab.mac("lb")
        rs_mac = {RS1: lab.mac("rs1"), RS2: lab.mac("rs2")}
        got = answers6(lab, 40)
        check(Counter(got) == Counter({"RS1": 20, "RS2": 20}), "40 IPv6 requests: %s" % Counter(got))
        check(all(a != b for a, b in zip(got, got[1:])), "not in turn: %s" % got)

        n = lab.neigh6("client", VIP6)
        check(n.get("lladdr") == lb_mac, "the client's neighbour entry for %s: %s (drfwd's MAC %s)" % (VIP6, n, lb_mac))
        # One solicited advertisement each, drfwd's (drfwd's unsolicited announcements of
        # the VIP, three in its first seconds, may fall in the window too).
        for target, who in ((VIP6, "the VIP"), (DIP6, "the DIP")):
            nas = lab.solicit(target, wait=0.5)
            check([a["tlla"] for a in nas if "S" in a["flags"]] == [lb_mac] and all(a["tlla"] == lb_mac for a in nas),
                  "NS for %s %s: advertisements %s (drfwd %s, RSs %s)" % (who, target, nas, lb_mac, rs_mac))
        nas = lab.solicit("2001:2::77", wait=0.5)
        check(nas == [], "NS for 2001:2::77 (nobody's) answered: %s" % nas)

        check(lab.addresses6("lb", "drfwd0") == [DIP6 + "/64"], "drfwd0's IPv6 addresses: %s" %
              lab.addresses6("lb", "drfwd0"))
        ping6(lab, "client", DIP6)
        ping6(lab, "rs1", DIP6)
        # The port's link-local address (drfwd0 holds it: the same MAC) is drfwd's own too.
        ping6(lab, "client", link_local(lb_mac) + "%eth0")

        got4 = answers(lab, 4)
        check(Counter(got4) == Counter({"RS1": 2, "RS2": 2}), "IPv4 beside IPv6: %s" % Counter(got4))

        r, neigh = learned_neighbours(lab)
        for rip in (RS1, RS2):
            row = neigh.get(rip, {})
            check(row.get("STATE") == "reachable" and row.get("MAC") == rs_mac[rip],
                  "%s not resolved to %s:\n%s" % (rip, rs_mac[rip], r.stdout))
        print(r.stdout)

        # How drfwd resolves an IPv6 server: a service added now with a server nobody
        # holds; its solicitation, seen from the client, leaves from the DIP to the
        # server's solicited-node group.
        cap = Capture(lab, "client", "eth0", "icmp6 and ip6[40] == 135 and ether src %s" % lb_mac)
        try:
            lab.ctl("vip", "add", VIP6, "tcp", "81", "sched", "rr", check=True)
            lab.ctl("rs", "add", VIP6, "tcp", "81", "2001:2::13", check=True)
            L.wait_for(lambda: False, 0.5)
        finally:
            frames = cap.stop()
        lab.ctl("vip", "del", VIP6, "tcp", "81", check=True)
        want = re.compile(r"^%s > 33:33:ff:00:00:13, .*: %s > ff02::1:ff00:13: ICMP6, neighbor solicitation, "
                          r"who has 2001:2::13\b" % (lb_mac, DIP6))
        check(any(want.match(line) for line in frames), "no solicitation for 2001:2::13 from %s (%s):\n%s"
              % (DIP6, lb_mac, "\n".join(frames)))
        # vip-routes: the VIP's /128 through drfwd0 in the kernel (for a routing daemon),
        # tagged with drfwd's protocol; gone again with vip-routes off.
        lab.ctl("set", "vip-routes", "table", "100", check=True)
        route = lambda: lab.run("lb", "ip", "-6", "route", "show", "table", "100").stdout  # noqa: E731
        L.wait_for(lambda: VIP6 in route(), 3)
        check(re.search(r"^%s dev drfwd0 proto 245\b" % re.escape(VIP6), route(), re.M), "IPv6 VIP route: %r" % route())
        # An IPv4 address change on the port leaves the kernel side's IPv6 (and the route) alone.
        lab.ctl("port", "0", "address", "198.18.0.3/24", check=True)
        time.sleep(0.5)
        check(VIP6 in route() and lab.addresses6("lb", "drfwd0") == [DIP6 + "/64"],
              "after an IPv4 change: route %r, drfwd0 %s" % (route(), lab.addresses6("lb", "drfwd0")))
        lab.ctl("set", "vip-routes", "off", check=True)
        L.wait_for(lambda: VIP6 not in route(), 3)
        check(VIP6 not in route(), "IPv6 VIP route left: %r" % route())
        stats = stop_and_check_ndp(lab)
        print("ndp counters: %s" % {k: v for k, v in stats["control"].items() if k.startswith("ndp_")})


def test_ipv6_failover_and_recovery():
    """nginx stopped on RS2: the HTTP check from 2001:2::2 takes 2001:2::12 out within
    3 s of the SIGTERM and every IPv6 request goes to RS1 (IPv4 too, once its own check noticed);
    started again: back in turn."""
    with new_lab() as lab:
        check(set(answers6(lab, 4)) == {"RS1", "RS2"}, "not balanced before the test")
        t0 = time.time()
        lab.stop_nginx("rs2")  # SIGTERM, and until nginx is gone (about 1.5 s; it stops listening at once)
        t = time.time()
        check(wait_health(lab, WEB6, RS2, "down"), "%s not down after 5 s: %s" % (RS2, health(lab, WEB6, RS2)))
        took = time.time() - t0
        print("%s down %.2fs after SIGTERM to nginx (which took %.2fs to exit)" % (RS2, took, t - t0))
        # fall 3 x interval 500 ms: about 1.5 s once nginx no longer answers (1.3-1.7 s
        # measured from the SIGTERM); the margin is for a loaded machine.
        check(took < 3.0, "%s down only %.2fs after SIGTERM to nginx" % (RS2, took))
        got = answers6(lab, 10)
        check(got == ["RS1"] * 10, "IPv6 after RS2 stopped: %s" % Counter(got))
        check(wait_health(lab, WEB4, "198.18.0.12", "down"), "198.18.0.12 not down after 5 s")
        got = answers(lab, 4)
        check(got == ["RS1"] * 4, "IPv4 after RS2 stopped: %s" % Counter(got))
        t = time.time()
        lab.start_nginx("rs2")
        check(wait_health(lab, WEB6, RS2, "up"), "%s not up after 5 s: %s" % (RS2, health(lab, WEB6, RS2)))
        print("%s up %.2fs after nginx started" % (RS2, time.time() - t))
        got = answers6(lab, 10)
        check(Counter(got) == Counter({"RS1": 5, "RS2": 5}), "IPv6 after RS2 came back: %s" % Counter(got))
        log = lab.tail_log(400)
        check(re.search(r"health: .*2001:2::12\b.* is down", log), "down not logged:\n" + log)
        check(re.search(r"health: .*2001:2::12\b.* is up", log), "up not logged:\n" + log)
        stop_and_check_ndp(lab)
