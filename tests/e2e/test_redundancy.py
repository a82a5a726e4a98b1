"""e2e tier: director redundancy (tools/lab.py's VRRP and ECMP labs). Long-lived
connections (tools/longlived.py: a line every 50 ms on each, answered by the real
server's echo with its name) run through consistent-hash services while a director dies,
comes back, joins or is drained; for every connection the client reports whether it was
reset, whether its real server changed, and the longest wait for an answer. Every test
builds its own lab (its own namespaces, addresses in 198.18.0.0/15) and deletes it, also
when it fails. The takeover times printed here are what docs/redundancy.md quotes."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(TOP, "tools"))
import lab as L  # noqa: E402
from drfwdtest import check, drfwd_binary  # noqa: E402
from directors import adopt_orphans, forwarding, forwards, new_lab, shares, timed, unharmed  # noqa: E402

adopt_orphans()

PY = "/usr/bin/python3"
MH, SH = 7, 8  # the labs' echo services: tcp 7 mh, tcp 8 sh
# ---- VRRP: active/backup ----------------------------------------------------------------

def test_vrrp_master_killed_then_back():
    """SIGKILL the master's drfwd: the backup holds the VIP within a second, no connection
    of the mh or sh service is reset or moved, new ones are served; the old master comes
    back (and preempts) without resetting anything."""
    with new_lab(L.VrrpLab) as lab:
        check(lab.masters() == ["lb1"], "master: %s" % lab.masters())
        check(lab.announced("lb1") == "arp" and lab.announced("lb2") == "no",
              "announced: lb1 %s, lb2 %s" % (lab.announced("lb1"), lab.announced("lb2")))
        mh, sh = lab.start_longlived(port=MH, conns=20), lab.start_longlived(port=SH, conns=10, probe_interval=0)
        try:
            check(mh.ready() and sh.ready(), "long-lived connections did not start")
            time.sleep(0.5)
            took = timed(lambda: lab.kill_drfwd("lb1", wait=False), lambda: lab.masters() == ["lb2"])
            check(took is not None and took < 1.0, "backup took over after %s s" % took)
            print("VRRP: master's drfwd killed, the backup holds the VIP after %.2fs" % took, flush=True)
            time.sleep(1.5)
            check(forwards(lab, MH, "lb2")["lb2"] > 0, "the backup does not forward")
            back = timed(lambda: lab.start_director("lb1"), lambda: lab.masters() == ["lb1"], timeout=10)
            check(back is not None, "the old master did not take the VIP back")
            print("VRRP: old master back, preempted after %.2fs" % back, flush=True)
            time.sleep(1.5)
            check(forwards(lab, MH, "lb1")["lb1"] > 0, "the old master does not forward again")
        finally:
            rep_mh, rep_sh = mh.finish(), sh.finish()
        unharmed(rep_mh, "VRRP, master killed and back (mh)")
        unharmed(rep_sh, "VRRP, master killed and back (sh)")
        check(lab.d("lb2").stop() == 0, "lb2's drfwd exit status")


def test_vrrp_keepalived_stopped_on_the_master():
    """keepalived (not drfwd) stops on the master: it gives the VIP up, the backup takes
    it, nothing is reset; keepalived back on the master: the VIP comes back."""
    with new_lab(L.VrrpLab) as lab:
        ll = lab.start_longlived(port=MH, conns=20)
        try:
            check(ll.ready(), "long-lived connections did not start")
            took = timed(lambda: lab.stop_keepalived("lb1", wait=False), lambda: lab.masters() == ["lb2"])
            check(took is not None and took < 1.0, "backup took over after %s s" % took)
            print("VRRP: keepalived stopped on the master, the backup holds the VIP after %.2fs" % took, flush=True)
            check(L.wait_for(lambda: lab.announced("lb1") == "no", 2), "lb1 still claims the VIP")
            check("VIP %s no longer claimed on port 0" % lab.vip in open(lab.d("lb1").log).read(),
                  "lb1 did not log that it gave the VIP up:\n" + lab.d("lb1").tail_log())
            time.sleep(1)
            back = timed(lambda: lab.start_keepalived("lb1"), lambda: lab.masters() == ["lb1"], timeout=5)
            check(back is not None, "the VIP did not come back to lb1")
            time.sleep(1)
        finally:
            rep = ll.finish()
        unharmed(rep, "VRRP, keepalived stopped and started on the master")


def test_vrrp_a_restarted_master_waits_until_it_has_converged():
    """A real server nobody answers for keeps a restarted director from converging until
    its hold-down (3 s). keepalived preempts within a second of drfwd's start and puts the
    VIP on drfwd0 — but drfwd neither answers for it nor lets keepalived's own gratuitous
    ARPs out until it has converged: the client keeps sending to the backup meanwhile."""
    lab = new_lab(L.VrrpLab)
    # Both directors start with the unanswered server (198.18.0.99) and a 3 s hold-down.
    lab.mode_lines = lambda: "set vip-arp kernel\nset vip-holddown 3\n"
    services = lab.services
    lab.services = lambda: services() + "ipvsadm -a -t %s:%d -r 198.18.0.99:%d -g\n" % (lab.vip, MH, MH)
    with lab:
        check(L.wait_for(lambda: lab.masters() == ["lb1"] and lab.announced("lb1") == "arp", 10),
              "lb1 did not become the converged master: %s, %s" % (lab.masters(), lab.announced("lb1")))
        lb_mac = {r: lab.run(r, "cat", "/sys/class/net/eth0/address").stdout.strip() for r in lab.directors}

        def client_arp():
            out = lab.run("client", "ip", "neigh", "show", lab.vip).stdout
            return next((mac for mac in lb_mac.values() if mac in out), None)

        ll = lab.start_longlived(port=MH, conns=20)
        try:
            check(ll.ready(), "long-lived connections did not start")
            check(timed(lambda: lab.kill_drfwd("lb1", wait=False), lambda: lab.masters() == ["lb2"]) is not None,
                  "no takeover")
            check(L.wait_for(lambda: lab.announced("lb2") == "arp", 5), "lb2 does not claim the VIP")
            check(L.wait_for(lambda: client_arp() == lb_mac["lb2"], 3), "the client did not move to lb2")
            time.sleep(0.5)
            started = time.time()
            lab.start_director("lb1")
            preempted = L.wait_for(lambda: "lb1" in lab.masters(), 5, 0.02) and time.time() - started
            check(preempted, "keepalived on lb1 did not take the VIP back")
            moved = L.wait_for(lambda: client_arp() == lb_mac["lb1"], 10, 0.05) and time.time() - started
            check(moved, "the client never moved back to lb1")
            print("VRRP: restarted master holds the VIP after %.2fs, the client follows after %.2fs (hold-down 3 s)"
                  % (preempted, moved), flush=True)
            check(moved > preempted + 1.5, "the client moved to lb1 %.2fs after its start, before it converged "
                  "(keepalived preempted at %.2fs)" % (moved, preempted))
            time.sleep(1)
        finally:
            rep = ll.finish()
        unharmed(rep, "VRRP, master restarted with a slow convergence")
        withheld = lab.d("lb1").ctl("show", "stats").stdout
        check(re.search(r"^arp_vip_withheld\s+[1-9]", withheld, re.M), "lb1 withheld no ARP:\n" + withheld)


# ---- BGP + ECMP: active/active ----------------------------------------------------------

def test_ecmp_director_killed_then_back():
    """Both directors carry flows; SIGKILL one: the router drops it within a second (BFD),
    every flow goes on through the other, none reset or moved; start it again: it carries
    about half the flows again, none reset."""
    with new_lab(L.EcmpLab) as lab:
        ll = lab.start_longlived(port=MH, conns=30)
        try:
            check(ll.ready(), "long-lived connections did not start")
            got = forwards(lab, MH, *lab.directors)
            check(all(v > 0 for v in got.values()), "both directors should carry flows: %s" % got)
            took = timed(lambda: lab.kill_drfwd("lb1", wait=False), lambda: lab.nexthops() == [lab.dip("lb2")])
            check(took is not None and took < 1.0, "the router dropped lb1 after %s s" % took)
            print("ECMP: lb1's drfwd killed, the router drops it after %.2fs" % took, flush=True)
            time.sleep(1)
            back = timed(lambda: lab.start_director("lb1"), lambda: len(lab.nexthops()) == 2, timeout=10)
            check(back is not None, "lb1 not back in the router's route")
            print("ECMP: lb1 back in the route %.2fs after its start" % back, flush=True)
            time.sleep(0.5)
            got = shares(lab, MH, 1.5)
            share = got["lb1"] / max(1, sum(got.values()))
            check(0.15 < share < 0.85, "lb1 carries %.0f%% of the packets after its return: %s" % (100 * share, got))
            print("ECMP: lb1 carries %.0f%% of the packets again" % (100 * share), flush=True)
        finally:
            rep = ll.finish()
        unharmed(rep, "ECMP, director killed and back")


def test_ecmp_a_third_director_then_maintenance():
    """A third director joins: about a third of the flows move to it, none reset. Then one
    is drained for maintenance (set vip-routes off): its flows go to the others, none
    reset, and it stops cleanly."""
    with new_lab(L.EcmpLab) as lab:
        ll = lab.start_longlived(port=MH, conns=30)
        try:
            check(ll.ready(), "long-lived connections did not start")
            lb3 = lab.add_director()
            check(L.wait_for(lambda: len(lab.nexthops()) == 3, 10), "lb3 not in the route: %s" % lab.nexthops())
            time.sleep(0.5)
            got = shares(lab, MH, 1.5)
            share = got[lb3] / max(1, sum(got.values()))
            check(0.1 < share < 0.6, "lb3 carries %.0f%% of the packets: %s" % (100 * share, got))
            print("ECMP: a third director joined, it carries %.0f%% of the packets" % (100 * share), flush=True)
            took = timed(lambda: lab.d("lb1").ctl("set", "vip-routes", "off", check=True),
                         lambda: lab.dip("lb1") not in lab.nexthops())
            check(took is not None, "lb1 not withdrawn")
            print("ECMP: lb1 drained (vip-routes off), withdrawn at the router after %.2fs" % took, flush=True)
            check(L.wait_for(lambda: forwarding(lab, "lb1", MH, 0.5) == 0, 5), "lb1 still forwards after its drain")
            check("route %s/32 table 100 withdrawn" % lab.vip in open(lab.d("lb1").log).read(),
                  "lb1 did not log its route's withdrawal:\n" + lab.d("lb1").tail_log())
            check(lab.d("lb1").stop() == 0, "lb1's drfwd exit status")
            time.sleep(1)
        finally:
            rep = ll.finish()
        unharmed(rep, "ECMP, third director and a drain")


def test_ecmp_a_vip_whose_servers_are_all_down_is_withdrawn():
    """A director whose health checks fail every real server of a VIP (lb1 checks a port
    nobody listens on: what it would see having lost its path to the servers) withdraws
    that VIP's route; the flows go on through the other director, whose checks pass."""
    with new_lab(L.EcmpLab) as lab:
        ll = lab.start_longlived(port=MH, conns=20)
        try:
            check(ll.ready(), "long-lived connections did not start")
            # The route is the VIP's: it stays while any service of the VIP has a usable
            # server, so the UDP service (unchecked unless a check is named) gets one too.
            batch = "set check tcp port 9\nvip set %s udp 5353 check tcp\n" % lab.vip
            tool = os.path.join(os.path.dirname(drfwd_binary()), "drfwdctl")
            took = timed(lambda: subprocess.run([tool, "-s", lab.d("lb1").socket, "-b", "-"], input=batch,
                                                text=True, check=True, timeout=10),
                         lambda: lab.nexthops() == [lab.dip("lb2")], timeout=5)
            check(took is not None, "lb1 still routed: %s" % lab.nexthops())
            rs = lab.d("lb1").ctl("show", "rs", lab.vip).stdout
            check(" up " not in rs and rs.count(" down ") == 8, "lb1's real servers:\n" + rs)
            check(lab.announced("lb1", MH) == "no" and lab.announced("lb2", MH) == "route",
                  "announced: %s / %s" % (lab.announced("lb1", MH), lab.announced("lb2", MH)))
            print("ECMP: lb1's checks fail every real server, its route withdrawn after %.2fs" % took, flush=True)
            time.sleep(1)
        finally:
            rep = ll.finish()
        # lb1 finds no server for its flows in the moment between its checks failing and
        # the router dropping it; they go on through lb2, which picks the same servers.
        unharmed(rep, "ECMP, a director whose servers are all down")


def test_dip_floods_keep_bgp_bfd_and_vrrp_up():
    """A UDP flood at a director's DIP (beyond the exception limit) leaves its BGP and BFD
    sessions and the VRRP election alone: the routing protocols are limited apart."""
    def flood(lab, target, seconds):
        return subprocess.Popen(["ip", "netns", "exec", lab.ns("client"), PY, os.path.join(TOP, "tools", "udp_flood.py"),
                                 target, "9", str(seconds)], stdout=subprocess.PIPE, text=True)

    def limited(lab, role):
        st = lab.d(role).ctl("show", "stats").stdout
        get = lambda name: int(re.search(r"^%s\s+(\d+)" % name, st, re.M).group(1))  # noqa: E731
        return get("exception_limited_other"), get("exception_limited_routing")

    with new_lab(L.EcmpLab) as lab:
        since = {r: lab.birdc("rt", "show", "protocols", r).splitlines()[-1].split()[4] for r in lab.directors}
        f = flood(lab, lab.dip("lb1"), 5)
        try:
            time.sleep(5.5)
        finally:
            f.wait(timeout=20)
        after = {r: lab.birdc("rt", "show", "protocols", r).splitlines()[-1].split()[4] for r in lab.directors}
        # BIRD shows when a session came up in wall-clock time derived from its monotonic
        # clock: the same instant may read a millisecond apart from one query to the next.
        # A flap would move it by the seconds the flood lasted.
        def seconds(t):
            h, m, sec = t.split(":")
            return int(h) * 3600 + int(m) * 60 + float(sec)
        flapped = {r for r in since if abs(seconds(after[r]) - seconds(since[r])) > 0.5}
        check(set(lab.sessions().values()) == {"Established"} and not flapped,
              "BGP sessions flapped under the flood: %s -> %s (%s)" % (since, after, lab.sessions()))
        bfd = lab.birdc("rt", "show", "bfd", "sessions")
        check(bfd.count(" Up ") == 2, "BFD sessions:\n" + bfd)
        other, routing = limited(lab, "lb1")
        check(other > 0 and routing == 0, "lb1 limited other %d, routing %d" % (other, routing))
        print("ECMP: DIP flood, %d frames over the limit, BGP and BFD stayed up" % other, flush=True)

    with new_lab(L.VrrpLab) as lab:
        log = os.path.join(lab.dir, "lb2", "keepalived.log")
        before = open(log).read().count("Entering MASTER STATE")
        f = flood(lab, lab.dip("lb2"), 5)  # the backup's DIP: it must keep hearing the master
        try:
            time.sleep(5.5)
        finally:
            f.wait(timeout=20)
        flaps = open(log).read().count("Entering MASTER STATE") - before
        check(flaps == 0 and lab.masters() == ["lb1"], "VRRP flapped %d times under the flood" % flaps)
        other, routing = limited(lab, "lb2")
        check(other > 0 and routing == 0, "lb2 limited other %d, routing %d" % (other, routing))
        print("VRRP: backup's DIP flooded, %d frames over the limit, no flap" % other, flush=True)


# ---- the documentation's configurations ---------------------------------------------------

def test_the_configurations_in_redundancy_md_are_accepted():
    """docs/redundancy.md's keepalived.conf and both bird.conf are what keepalived and
    BIRD accept (keepalived -t in a namespace of its own with a drfwd0; bird -p)."""
    text = open(os.path.join(TOP, "docs", "redundancy.md")).read()
    blocks = re.findall(r"^```\n(.*?)^```", text, re.S | re.M)
    keepalived = [b for b in blocks if "vrrp_instance" in b]
    bird = [b for b in blocks if "protocol bgp" in b]
    check(len(keepalived) == 1 and len(bird) == 2, "expected one keepalived.conf and two bird.conf in redundancy.md")
    tmp = tempfile.mkdtemp(prefix="drfwd-conf-")
    ns = "dfrconf%d" % os.getpid()
    try:
        for i, conf in enumerate(bird):
            path = os.path.join(tmp, "bird%d.conf" % i)
            open(path, "w").write(conf)
            r = subprocess.run(["bird", "-p", "-c", path], capture_output=True, text=True)
            check(r.returncode == 0, "bird -p refuses redundancy.md's bird.conf:\n%s%s" % (r.stderr, conf))
        path = os.path.join(tmp, "keepalived.conf")
        open(path, "w").write(keepalived[0])
        subprocess.run(["ip", "netns", "add", ns], check=True)
        subprocess.run(["ip", "-n", ns, "link", "add", "drfwd0", "type", "veth", "peer", "name", "peer0"], check=True)
        r = subprocess.run(["ip", "netns", "exec", ns, "keepalived", "-t", "-f", path], capture_output=True, text=True)
        check(r.returncode == 0, "keepalived -t refuses redundancy.md's keepalived.conf:\n%s" % (r.stdout + r.stderr))
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
