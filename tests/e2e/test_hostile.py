"""e2e tier, hostile conditions: a flood at the DIP, spoofed ARP for a real server, a
real server that flaps, one that accepts TCP but answers HTTP with errors. Each test
builds its own lab (tools/lab.py: its own namespaces, addresses in 198.18.0.0/15) and
deletes it, also when it fails."""
import datetime
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(TOP, "tools"))
import lab as L  # noqa: E402
from drfwdtest import check, drfwd_binary  # noqa: E402
from directors import adopt_orphans  # noqa: E402

adopt_orphans()  # nginx's stops take milliseconds, not seconds

PY = "/usr/bin/python3"
VIP = L.VIP
DIP = "198.18.0.2"
RS1, RS2 = "198.18.0.11", "198.18.0.12"
_count = [0]
STAMP = r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)"  # spdlog's time stamp


def new_lab(**kw):
    _count[0] += 1
    return L.Lab(prefix="dfh%d-%d" % (os.getpid() % 100000, _count[0]), drfwd=drfwd_binary(), log=lambda *a: None,
                 **kw)


def stop_and_check(lab):
    rc = lab.stop_drfwd()
    check(rc == 0, "drfwd exit status %s\n%s" % (rc, lab.tail_log()))
    with open(lab.stats_json) as f:
        return json.load(f)


def wait_for(pred, timeout, step=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def health_events(lab, rs_ip):
    """(time, 'up'|'down') for every health change of rs_ip in drfwd's log."""
    out = []
    pat = re.compile(STAMP + r" \[\w+\] health: .* -> %s is (up|down)" % re.escape(rs_ip))
    with open(lab.drfwd_log) as f:
        for line in f:
            m = pat.search(line)  # not anchored: the console's prompt may precede a log line
            if m:
                t = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()
                out.append((t, m.group(2)))
    return out


def test_dip_flood_is_contained():
    """~100k+ pps of UDP at the DIP for several seconds, against --exception-pps 1000:
    the limit holds, health checks still see a real server fail and recover, the
    control socket and the console still answer, forwarding goes on."""
    limit = 1000
    with new_lab(drfwd_args=["--exception-pps", str(limit)], console=True) as lab:
        seconds = 8
        flood = subprocess.Popen(["ip", "netns", "exec", lab.ns("client"), PY, os.path.join(TOP, "tools", "udp_flood.py"),
                                  DIP, "9", str(seconds)], stdout=subprocess.PIPE, text=True)
        try:
            time.sleep(1)
            # The control socket answers, promptly.
            t0 = time.time()
            r = lab.ctl("show", "vips")
            check(r.returncode == 0 and VIP in r.stdout, "show vips under flood: %s" % r.stderr)
            check(time.time() - t0 < 2, "the control socket took %.1fs" % (time.time() - t0))
            # The console answers.
            lab.console("show neigh")
            check(wait_for(lambda: "STATE" in open(lab.drfwd_log).read(), 5), "no console answer under flood")
            # Health checks keep working: RS2's nginx stops, it is taken out; restarted, back.
            time.sleep(2)  # four check intervals of flood
            check(not health_events(lab, RS1) and not health_events(lab, RS2),
                  "the flood changed health states\n" + lab.tail_log())
            stop_at = time.time()
            lab.stop_nginx("rs2")
            check(wait_for(lambda: any(e == "down" for _, e in health_events(lab, RS2)), 4),
                  "RS2 not taken out under flood\n" + lab.tail_log())
            took_down = [t for t, e in health_events(lab, RS2) if e == "down"][0] - stop_at
            answers = [lab.curl() for _ in range(6)]
            check(answers == ["RS1"] * 6, "under flood, with RS2 down: %s" % answers)
            lab.start_nginx("rs2")
            check(wait_for(lambda: health_events(lab, RS2)[-1][1] == "up", 5), "RS2 not back under flood")
            got = Counter(lab.curl() for _ in range(10))
            check(got == Counter({"RS1": 5, "RS2": 5}), "under flood, after recovery: %s" % got)
            out, _ = flood.communicate(timeout=seconds + 20)
        finally:
            if flood.poll() is None:
                flood.kill()
                flood.wait()
        sent = json.loads(out)["sent"]
        stats = stop_and_check(lab)
        w = stats["workers"][0]
        ran = seconds + 1  # the flood's seconds, plus slack for the frames around it
        check(sent > 20 * limit * seconds, "the flood was too weak to test anything: %d frames" % sent)
        check(w["exception_limited_other"] > sent * 0.8,
              "the limit did not hold: %d of %d flood frames limited" % (w["exception_limited_other"], sent))
        check(w["exception_limited_server"] == 0,
              "frames from the real servers were limited: %d" % w["exception_limited_server"])
        check(stats["control"]["exception_in"] < 3 * limit * (ran + 20),
              "the control core took %d frames" % stats["control"]["exception_in"])
        print("  flood: %d frames in %ds; limited %d; the control core took %d in all; RS2 out after %.1fs"
              % (sent, seconds, w["exception_limited_other"], stats["control"]["exception_in"], took_down))


SPOOF = r"""
import sys
from scapy.all import ARP, Ether, sendp
rs_ip, vip, dip, lb_mac, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
me = "02:66:66:66:66:66"
frames = [
    # unsolicited reply to drfwd claiming the RS's address
    Ether(src=me, dst=lb_mac) / ARP(op=2, hwsrc=me, psrc=rs_ip, hwdst=lb_mac, pdst=dip),
    # gratuitous announcement of the RS's address
    Ether(src=me, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=me, psrc=rs_ip, hwdst="00:00:00:00:00:00", pdst=rs_ip),
    Ether(src=me, dst="ff:ff:ff:ff:ff:ff") / ARP(op=2, hwsrc=me, psrc=rs_ip, hwdst="ff:ff:ff:ff:ff:ff", pdst=rs_ip),
    # a reply to someone else's request
    Ether(src=me, dst=lb_mac) / ARP(op=2, hwsrc=me, psrc=rs_ip, hwdst=lb_mac, pdst=vip),
]
sendp(frames * n, iface="eth0", verbose=False)
"""


def test_spoofed_arp_does_not_redirect_a_real_server():
    with new_lab() as lab:
        rs1_mac = lab.run("rs1", "cat", "/sys/class/net/eth0/address", check=True).stdout.strip().lower()
        lb_mac = lab.run("lb", "cat", "/sys/class/net/eth0/address", check=True).stdout.strip().lower()
        r = lab.run("client", PY, "-c", SPOOF, RS1, VIP, DIP, lb_mac, "25", timeout=60)
        check(r.returncode == 0, "spoofer: " + r.stderr)
        time.sleep(0.5)
        neigh = lab.ctl("show", "neigh").stdout
        line = [l for l in neigh.splitlines() if l.startswith(RS1)]
        check(line and rs1_mac in line[0].lower() and "reachable" in line[0], "RS1's neighbour entry:\n" + neigh)
        got = Counter(lab.curl() for _ in range(20))
        check(got == Counter({"RS1": 10, "RS2": 10}), "after spoofing: %s" % got)
        # The appliance's own stack (health checks leave from it) was not poisoned either.
        kn = lab.run("lb", "ip", "neigh", "show", RS1).stdout.lower()
        check("02:66:66:66:66:66" not in kn, "the kernel's neighbour entry was redirected: " + kn)
        time.sleep(2)  # several health-check intervals
        check(not any(e == "down" for _, e in health_events(lab, RS1)), "RS1 was taken out\n" + lab.tail_log())
        stats = stop_and_check(lab)
        check(stats["control"]["arp_ignored"] >= 25, "spoofed ARP not counted as ignored: %s" % stats["control"])
        check(stats["control"]["arp_conflicting"] >= 100, "spoofed ARP passed on: %s" % stats["control"])
        n = {x["ip"]: x for x in stats["neighbours"]}
        check(n[RS1]["mac"].lower() == rs1_mac, "RS1 resolved to %s" % n[RS1]["mac"])


def test_two_hosts_answering_for_a_server_are_not_trusted():
    """Two hosts hold a new real server's address (an impostor racing the server, or a
    misconfiguration) when drfwd first resolves it: neither MAC is used and the server
    gets no traffic; once only one host answers, drfwd resolves it on its next try."""
    rs3 = "198.18.0.13"
    with new_lab() as lab:
        macs = {}
        for role, port in (("twin", "t1"), ("imp", "t2")):
            lab.add_ns(role)
            lab.cable("sw", port, role)
            L.sh("ip", "-n", lab.ns(role), "addr", "add", rs3 + "/24", "dev", "eth0")
            macs[role] = lab.run(role, "cat", "/sys/class/net/eth0/address", check=True).stdout.strip().lower()
        lab.ctl("rs", "add", VIP, "tcp", "80", rs3, check=True)

        def neigh_line():
            out = lab.ctl("show", "neigh").stdout
            return next((l.lower() for l in out.splitlines() if l.startswith(rs3 + " ")), "")

        def conflicts():
            m = re.search(r"^neigh_conflicts\s+(\d+)", lab.ctl("show", "stats").stdout, re.M)
            return int(m.group(1)) if m else 0

        check(wait_for(lambda: conflicts() >= 1, 5), "no conflict seen: %s\n%s" % (neigh_line(), lab.tail_log()))
        line = neigh_line()
        check("failed" in line and macs["twin"] not in line and macs["imp"] not in line,
              "RS3 was resolved despite two answers: " + line)
        got = Counter(lab.curl() for _ in range(12))
        check(set(got) <= {"RS1", "RS2"} and sum(got.values()) == 12, "traffic with RS3 unresolved: %s" % got)
        with open(lab.drfwd_log) as f:
            check(any("neither used" in l and rs3 in l for l in f), "no warning in the log\n" + lab.tail_log())
        # The impostor leaves: the next try (5 s later) has one answer.
        L.sh("ip", "-n", lab.ns("imp"), "addr", "del", rs3 + "/24", "dev", "eth0")
        check(wait_for(lambda: "reachable" in neigh_line(), 12), "RS3 not resolved afterwards: " + neigh_line())
        check(macs["twin"] in neigh_line(), "RS3 resolved to the wrong MAC: " + neigh_line())
        stats = stop_and_check(lab)
        check(stats["control"]["neigh_conflicts"] >= 1, "neigh_conflicts: %s" % stats["control"])


FLAPPER = r"""
import socket, sys, time
port, on, off, seconds = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
end = time.time() + seconds
while time.time() < end:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(64)
    s.settimeout(0.02)
    up_until = time.time() + on
    while time.time() < up_until:
        try:
            c, _ = s.accept()
            c.close()
        except OSError:
            pass
    s.close()  # now refused
    time.sleep(off)
"""


def test_flapping_server_follows_rise_and_fall():
    """RS1 accepts on port 8080 for 0.3 s, refuses for 0.3 s, over and over. With interval
    100ms, rise 2, fall 3, every down must follow at least 3 probe intervals after the
    last up, every up at least 2 after the last down."""
    interval, rise, fall = 0.1, 2, 3
    with new_lab() as lab:
        lab.ctl("vip", "add", VIP, "tcp", "8080", "sched", "rr", "check", "tcp", "interval", "100ms",
                "timeout", "80ms", "rise", str(rise), "fall", str(fall), check=True)
        lab.ctl("rs", "add", VIP, "tcp", "8080", RS1, check=True)
        run_for = 7
        flap = subprocess.Popen(["ip", "netns", "exec", lab.ns("rs1"), PY, "-c", FLAPPER, "8080", "0.3", "0.3",
                                 str(run_for)])
        try:
            flap.wait(timeout=run_for + 10)
        finally:
            if flap.poll() is None:
                flap.kill()
                flap.wait()
        with open(lab.drfwd_log) as f:
            ev8080 = [line for line in f if ":8080 -> %s is " % RS1 in line]
        events = parse_events(ev8080)
        stop_and_check(lab)
    check(len(events) >= 6, "too few health changes for a flapping server: %d\n%s" % (len(events), "".join(ev8080)))
    for (t0, e0), (t1, e1) in zip(events, events[1:]):
        check(e0 != e1, "two %s changes in a row" % e0)
        # Each change comes when a probe completes, and a completion can come late (a
        # loaded machine: 20 ms seen) while the next probes keep their schedule: allow half
        # an interval, which still tells rise 2 from rise 1 and fall 3 from fall 2.
        need = (fall if e1 == "down" else rise) * interval
        check(t1 - t0 >= need - interval / 2, "%s after %.3fs of %s: rise/fall allow no less than %.2fs\n%s"
              % (e1, t1 - t0, e0, need - interval / 2, "".join(ev8080)))
    gaps = [t1 - t0 for (t0, _), (t1, _) in zip(events, events[1:])]
    print("  flapping RS: %d changes, gaps %.2f-%.2fs" % (len(events), min(gaps), max(gaps)))


def parse_events(lines):
    out = []
    for line in lines:
        m = re.search(STAMP + r" \[\w+\] health: .* is (up|down)", line)
        if m:
            out.append((datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp(), m.group(2)))
    return out


def test_http_errors_take_a_server_out():
    """Both real servers accept TCP; RS2 answers /health with 500. An http check takes RS2
    out (a tcp check would not); when RS2 answers 200 again it comes back."""
    extra = {"rs1": 'location = /health { return 200 "ok\\n"; }',
             "rs2": 'location = /health { return 500 "broken\\n"; }'}
    with new_lab(nginx_extra=extra) as lab:
        got = Counter(lab.curl() for _ in range(10))
        check(got == Counter({"RS1": 5, "RS2": 5}), "with tcp checks both serve: %s" % got)
        lab.ctl("vip", "set", VIP, "tcp", "80", "check", "http", "path", "/health", "expect", "200", check=True)
        check(wait_for(lambda: any(e == "down" for _, e in health_events(lab, RS2)), 5),
              "RS2 answering 500 was not taken out\n" + lab.tail_log())
        check(not any(e == "down" for _, e in health_events(lab, RS1)), "RS1 (200) was taken out")
        got = [lab.curl() for _ in range(8)]
        check(got == ["RS1"] * 8, "with RS2 out: %s" % got)
        rs = lab.ctl("show", "rs", VIP).stdout
        check(re.search(r"198\.18\.0\.12 +\d+ +down", rs), "show rs:\n" + rs)
        lab.nginx_extra["rs2"] = extra["rs1"]
        lab.stop_nginx("rs2")
        lab.start_nginx("rs2")
        check(wait_for(lambda: health_events(lab, RS2)[-1][1] == "up", 5), "RS2 not back after answering 200")
        got = Counter(lab.curl() for _ in range(10))
        check(got == Counter({"RS1": 5, "RS2": 5}), "after recovery: %s" % got)
        stop_and_check(lab)
