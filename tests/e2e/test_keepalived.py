"""e2e tier: the lab started from a keepalived.conf as an LVS operator wrote it
(docs/examples/keepalived.conf: wlc, DR, HTTP_GET every second, a sorry server), loaded
with --import-keepalived (tools/lab.py KeepalivedLab). Balance, fail-over and recovery
as in the ipvsadm lab, the sorry server while both real servers are down. About 20 s."""
import os
import re
import sys
import time
from collections import Counter

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(TOP, "tools"))
import lab as L  # noqa: E402
from drfwdtest import check, drfwd_binary  # noqa: E402
from test_lab import answers, stop_and_check_drfwd  # noqa: E402


def new_lab():
    return L.KeepalivedLab(prefix="dfk%d" % (os.getpid() % 100000), drfwd=drfwd_binary(), log=lambda *a: None)


def wait_answer(lab, want, timeout):
    """Polls the VIP until `want` answers; the seconds it took."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        if lab.curl(timeout=1) == want:
            return time.time() - t0
        time.sleep(0.1)
    raise AssertionError("%s did not answer within %ss\n%s" % (want, timeout, lab.tail_log()))


def conns(lab):
    """ipvsadm -L -n's ActiveConn and InActConn of the two real servers: {rip: (a, i)}."""
    out = lab.ctl("ipvsadm", "-L", "-n", check=True).stdout
    return {m.group(1): (int(m.group(2)), int(m.group(3)))
            for m in re.finditer(r"-> (198\.18\.0\.1[12]):80\s+\S+\s+\d+\s+(\d+)\s+(\d+)", out)}


def wlc_sequence(counts, n):
    """IPVS's wlc over equal weights from these counts, each request closed before the
    next (one more inactive connection): least 256 * active + inactive, the first server
    in address order on a tie."""
    c = {ip: 256 * a + i for ip, (a, i) in counts.items()}
    seq = []
    for _ in range(n):
        ip = min(sorted(c), key=lambda k: c[k])
        c[ip] += 1
        seq.append({"198.18.0.11": "RS1", "198.18.0.12": "RS2"}[ip])
    return seq


def test_lab_from_keepalived_conf():
    with new_lab() as lab:
        shown = lab.ctl("show", "config", check=True).stdout
        check("vip add 198.18.0.100 tcp 80 sched wlc" in shown, "not wlc:\n" + shown)
        check(re.search(r"rs add 198\.18\.0\.100 tcp 80 198\.18\.0\.19 sorry", shown), "no sorry server:\n" + shown)
        check(re.search(r"198\.18\.0\.11 weight 1 .*check http", shown), "no HTTP check:\n" + shown)
        listing = lab.ctl("ipvsadm", "-L", "-n", check=True).stdout
        check(re.search(r"TCP\s+198\.18\.0\.100:80 wlc", listing), "ipvsadm -L -n:\n" + listing)

        # wlc over two equal servers and short connections: each takes its turn.
        before = conns(lab)
        got = answers(lab, 20)
        check(got == wlc_sequence(before, 20), "20 requests from %s: %s" % (before, got))
        check(abs(got.count("RS1") - got.count("RS2")) <= abs(before["198.18.0.11"][1] - before["198.18.0.12"][1]),
              "not balanced: %s" % Counter(got))

        # Fail-over: HTTP_GET every second, retry 1: out within about 2 s.
        lab.stop_nginx("rs2")
        t0 = time.time()
        while time.time() - t0 < 5 and "198.18.0.12 is down" not in lab.tail_log(50):
            time.sleep(0.1)
        down_after = time.time() - t0
        check(down_after < 4, "RS2 down after %.1fs\n%s" % (down_after, lab.tail_log()))
        got = answers(lab, 10)
        check(got == ["RS1"] * 10, "after RS2 stopped: %s" % Counter(got))

        # Recovery: one good check brings it back; wlc then fills the newcomer first.
        lab.start_nginx("rs2")
        wait_answer(lab, "RS2", 5)
        before = conns(lab)
        got = answers(lab, 20)
        check(got == wlc_sequence(before, 20), "after RS2 came back, from %s: %s" % (before, got))
        check(got.count("RS2") > got.count("RS1"), "wlc did not favour the emptier server: %s" % Counter(got))

        # Both down: the sorry server answers; one back: it takes over again.
        lab.stop_nginx("rs1")
        lab.stop_nginx("rs2")
        wait_answer(lab, "SORRY", 6)
        got = answers(lab, 5)
        check(got == ["SORRY"] * 5, "both real servers down: %s" % got)
        lab.start_nginx("rs1")
        wait_answer(lab, "RS1", 5)
        got = answers(lab, 5)
        check(got == ["RS1"] * 5, "RS1 back: %s" % got)
        log = lab.tail_log(400)
        check(re.search(r"health: .*198\.18\.0\.12 is down", log), "down not logged")
        stats = stop_and_check_drfwd(lab)
        svc = [s for s in stats["services"] if s["proto"] == "tcp"][0]
        check(svc["sched"] == "wlc", "stats: %s" % svc["sched"])
