"""e2e tier: connection sync between directors (IPVS sync protocol v1, tools/lab.py's
SyncVrrpLab and SyncEcmpLab: every director runs `sync start master` and `sync start
backup`). The echo services use schedulers whose choices no other director can
recompute — tcp 7 rr, tcp 8 rr with persistence (-p 300) — so a connection survives a
fail-over only if the director taking over learned it by sync. Long-lived connections
(tools/longlived.py) report whether any was reset or moved to another real server; a
load test (tools/sync_load.py: 20,000 new UDP flows per second) measures what the sync
master sends, what the backup applies, the rate cap and memory. Every test builds its
own lab (its own namespaces, addresses in 198.18.0.0/15) and deletes it, also when it
fails. The figures printed here are what the documentation quotes."""
import json
import os
import re
import sys
import time

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(TOP, "tools"))
import lab as L  # noqa: E402
from drfwdtest import check  # noqa: E402
from directors import adopt_orphans, forwards, new_lab, quit_keepalived, shares, timed, unharmed  # noqa: E402

adopt_orphans()

PY = "/usr/bin/python3"
RR, PERSIST = 7, 8  # SyncLab's echo services: tcp 7 rr, tcp 8 rr -p 300
LOAD_PORT = 9       # the load test's UDP rr service (nothing listens on the real servers)


def conns(lab, role, port, state="ESTABLISHED"):
    """A director's TCP connections to VIP:port in `state`: client -> real server."""
    r = lab.d(role).ctl("show", "conns", lab.vip, "limit", "10000")
    out = {}
    for line in r.stdout.splitlines() if r.returncode == 0 else []:
        w = line.split()
        if len(w) >= 5 and w[0] == "TCP" and w[2] == "%s:%d" % (lab.vip, port) and w[4] == state:
            out[w[1]] = w[3].split(":")[0]
    return out


def synced(lab, src, dst, port, least):
    """Until dst holds at least `least` of src's ESTABLISHED connections to VIP:port on the
    same real server, and none on another (a connection src has just made may not have
    reached dst yet); returns (how many match, the ones on another real server)."""
    def compare():
        a, b = conns(lab, src, port), conns(lab, dst, port)
        same = sum(1 for c, rs in a.items() if b.get(c) == rs)
        return same, {c: (rs, b[c]) for c, rs in a.items() if c in b and b[c] != rs}
    L.wait_for(lambda: (lambda n, other: n >= least and not other)(*compare()), 3, 0.1)
    return compare()


def sync_figures(lab, role):
    c = lab.sync_counters(role)
    return "sync_queued %d, messages_sent %d, records_sent %d, bytes_sent %d, records_received %d, sync_applied %d" % (
        c.get("sync_queued", -1), c.get("messages_sent", -1), c.get("records_sent", -1), c.get("bytes_sent", -1),
        c.get("records_received", -1), c.get("sync_applied", -1))


def refused(c):
    return {k: v for k, v in c.items() if (k.startswith("refused_") or k in ("send_errors", "delivery_full")) and v}


# ---- VRRP: active/backup ----------------------------------------------------------------

def test_vrrp_master_killed_rr():
    """rr: the backup learns every connection once it is established; SIGKILL the master's
    drfwd: the backup holds the VIP within a second and carries every connection on to
    the real server the master chose, none reset."""
    with new_lab(tag="dfs", cls=L.SyncVrrpLab) as lab:
        check(lab.masters() == ["lb1"], "master: %s" % lab.masters())
        ll = lab.start_longlived(port=RR, conns=20)
        try:
            check(ll.ready(), "long-lived connections did not start")
            n, diff = synced(lab, "lb1", "lb2", RR, 20)
            check(n >= 20 and not diff, "lb2 holds %d of lb1's connections, on another RS: %s" % (n, diff))
            applied = lab.sync_counters("lb2").get("sync_applied", 0)
            check(applied >= 20, "lb2 applied %d sync records" % applied)
            print("sync: lb1 %s" % sync_figures(lab, "lb1"), flush=True)
            print("sync: lb2 %s; lb2 holds %d of lb1's established connections, on the same RS"
                  % (sync_figures(lab, "lb2"), n), flush=True)
            killed_at = time.time()
            took = timed(lambda: lab.kill_drfwd("lb1", wait=False), lambda: lab.masters() == ["lb2"])
            check(took is not None and took < 1.0, "backup took over after %s s" % took)
            print("VRRP+sync (rr): master's drfwd killed, the backup holds the VIP after %.2fs" % took, flush=True)
            time.sleep(1.5)
            check(forwards(lab, RR, "lb2")["lb2"] > 0, "the backup does not forward")
        finally:
            rep = ll.finish()
        unharmed(rep, "VRRP+sync, master killed (rr)", killed_at)
        check(not refused(lab.sync_counters("lb2")), "lb2 refused: %s" % refused(lab.sync_counters("lb2")))
        quit_keepalived(lab)
        check(lab.d("lb2").stop() == 0, "lb2's drfwd exit status")


def test_vrrp_master_killed_persistence():
    """rr with persistence (-p 300): the backup learns the client's template too; after
    SIGKILL of the master the long-lived connections keep their real server and the
    client's new connections still go to the one real server it had before."""
    with new_lab(tag="dfs", cls=L.SyncVrrpLab) as lab:
        ll = lab.start_longlived(port=PERSIST, conns=10, probe_interval=0.2)
        try:
            check(ll.ready(), "long-lived connections did not start")
            n, diff = synced(lab, "lb1", "lb2", PERSIST, 10)
            check(n >= 10 and not diff, "lb2 holds %d of lb1's connections, on another RS: %s" % (n, diff))
            time.sleep(0.5)
            took = timed(lambda: lab.kill_drfwd("lb1", wait=False), lambda: lab.masters() == ["lb2"])
            check(took is not None and took < 1.0, "backup took over after %s s" % took)
            print("VRRP+sync (persistence): master's drfwd killed, the backup holds the VIP after %.2fs" % took,
                  flush=True)
            time.sleep(3)  # 15 new connections through the backup
            check(forwards(lab, PERSIST, "lb2")["lb2"] > 0, "the backup does not forward")
        finally:
            rep = ll.finish()
        unharmed(rep, "VRRP+sync, master killed (rr -p 300)")
        probes, per_rs = rep["probes"], rep["summary"]["per_rs"]
        check(len(probes["per_rs"]) == 1 and set(probes["per_rs"]) == set(per_rs),
              "persistence broken: long-lived connections on %s, new connections on %s" % (per_rs, probes["per_rs"]))
        print("VRRP+sync (persistence): all %d new connections, before and after the fail-over, went to %s "
              "like the long-lived ones" % (probes["ok"], list(probes["per_rs"])[0]), flush=True)
        quit_keepalived(lab)
        check(lab.d("lb2").stop() == 0, "lb2's drfwd exit status")


def test_vrrp_failover_and_failback():
    """SIGKILL the master's drfwd, then start it again: keepalived on it preempts within
    about a second, with an empty connection table. The surviving director announces its
    connections again when it sees the new instance, so the old master carries them on:
    none reset or moved across the fail-over and the fail-back (rr and persistence)."""
    with new_lab(tag="dfs", cls=L.SyncVrrpLab) as lab:
        rr, pe = lab.start_longlived(port=RR, conns=20), lab.start_longlived(port=PERSIST, conns=10)
        try:
            check(rr.ready() and pe.ready(), "long-lived connections did not start")
            n, diff = synced(lab, "lb1", "lb2", RR, 20)
            check(n >= 20 and not diff, "lb2 holds %d of lb1's connections, on another RS: %s" % (n, diff))
            killed_at = time.time()
            took = timed(lambda: lab.kill_drfwd("lb1", wait=False), lambda: lab.masters() == ["lb2"])
            check(took is not None and took < 1.0, "backup took over after %s s" % took)
            print("VRRP+sync: master's drfwd killed, the backup holds the VIP after %.2fs" % took, flush=True)
            time.sleep(2)
            check(forwards(lab, RR, "lb2")["lb2"] > 0, "the backup does not forward")
            before = lab.sync_counters("lb2")
            started = time.time()
            lab.start_director("lb1")
            # When keepalived gives the VIP back, and when the restarted director has applied
            # as many records as there are long-lived connections (20 + 10 + a template).
            seen = {}

            def both():
                now = time.time() - started
                if "preempted" not in seen and lab.masters() == ["lb1"]:
                    seen["preempted"] = now
                if "learned" not in seen and lab.sync_counters("lb1").get("sync_applied", 0) >= 31:
                    seen["learned"] = now
                return len(seen) == 2
            L.wait_for(both, 10, 0.02)
            check("preempted" in seen, "the old master did not take the VIP back")
            after = lab.sync_counters("lb2")
            print("VRRP+sync: old master restarted, it holds the VIP again after %.2fs; %s" %
                  (seen["preempted"], "it had applied 31 records after %.2fs" % seen["learned"] if "learned" in seen
                   else "it had NOT applied 31 records within 10 s"), flush=True)
            print("sync: lb2 sent %d records in %d messages after lb1's restart; lb1 %s" %
                  (after["records_sent"] - before["records_sent"], after["messages_sent"] - before["messages_sent"],
                   sync_figures(lab, "lb1")), flush=True)
            n, diff = synced(lab, "lb2", "lb1", RR, 20)
            check(n >= 20 and not diff, "lb1 holds %d of lb2's connections, on another RS: %s" % (n, diff))
            time.sleep(2)
            check(forwards(lab, RR, "lb1")["lb1"] > 0, "the old master does not forward again")
        finally:
            rep_rr, rep_pe = rr.finish(), pe.finish()
        unharmed(rep_rr, "VRRP+sync, fail-over and fail-back (rr)", killed_at, started + seen["preempted"])
        unharmed(rep_pe, "VRRP+sync, fail-over and fail-back (rr -p 300)")
        check(len(rep_pe["probes"]["per_rs"]) == 1, "persistence broken: new connections on %s" %
              rep_pe["probes"]["per_rs"])
        quit_keepalived(lab)
        for role in ("lb1", "lb2"):
            check(lab.d(role).stop() == 0, "%s's drfwd exit status" % role)


# ---- BGP + ECMP: active/active ----------------------------------------------------------

def test_ecmp_director_killed_rr():
    """Both directors carry rr flows and sync them to each other; SIGKILL one: the router
    drops it within a second (BFD) and the other carries its flows on to the same real
    servers, none reset."""
    with new_lab(tag="dfs", cls=L.SyncEcmpLab) as lab:
        ll = lab.start_longlived(port=RR, conns=30)
        try:
            check(ll.ready(), "long-lived connections did not start")
            got = shares(lab, RR, 1.0)
            check(all(v > 0 for v in got.values()), "both directors should carry flows: %s" % got)
            n, diff = synced(lab, "lb1", "lb2", RR, 30)
            check(n >= 30 and not diff, "lb2 holds %d of lb1's connections, on another RS: %s" % (n, diff))
            print("ECMP+sync: packets per director over 1 s %s; each holds all 30 connections, on the same RS"
                  % got, flush=True)
            killed_at = time.time()
            took = timed(lambda: lab.kill_drfwd("lb1", wait=False), lambda: lab.nexthops() == [lab.dip("lb2")])
            check(took is not None and took < 1.0, "the router dropped lb1 after %s s" % took)
            print("ECMP+sync (rr): lb1's drfwd killed, the router drops it after %.2fs" % took, flush=True)
            time.sleep(2)
        finally:
            rep = ll.finish()
        unharmed(rep, "ECMP+sync, director killed (rr)", killed_at)
        check(lab.d("lb2").stop() == 0, "lb2's drfwd exit status")


# ---- load -------------------------------------------------------------------------------

LOAD_RATE, LOAD_SECONDS = 20000, 10
CAP_RATE, CAP_SECONDS = 5000, 5
# Every flow of both runs stays (UDP timeout 300 s) on both directors: 300,000 entries.
TABLE = 524288


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"^VmRSS:\s+(\d+)", f.read(), re.M).group(1))


def stat(lab, role, name):
    st = lab.d(role).ctl("show", "stats").stdout
    m = re.search(r"^\s*%s\s+(\d+)" % name, st, re.M)
    return int(m.group(1)) if m else None


def run_load(lab, sources, rate, seconds):
    """tools/sync_load.py in the client namespace; returns its report."""
    r = lab.run("client", PY, os.path.join(TOP, "tools", "sync_load.py"), lab.vip, str(LOAD_PORT),
                "--sources", ",".join(sources), "--rate", str(rate), "--duration", str(seconds),
                timeout=seconds + 30)
    check(r.returncode == 0, "sync_load.py: %s%s" % (r.stdout, r.stderr))
    return json.loads(r.stdout)


def settle(lab):
    """Until the backup's applied count stops moving (the last messages are in)."""
    last = [None]

    def still():
        now = lab.sync_counters("lb2").get("sync_applied")
        same, last[0] = now == last[0], now
        return same
    L.wait_for(still, 10, 0.5)


def delta(after, before):
    return {k: v - before.get(k, 0) for k, v in after.items()}


def test_vrrp_sync_under_load():
    """20,000 new UDP flows per second for 10 s through the master: it announces each, the
    backup applies them, nothing crashes, memory stays put. Then the same with the sync
    rate capped at 5,000 records/s: the workers hand over no more than that."""
    load_service = "".join(["ipvsadm -A -u {vip}:%d -s rr\n" % LOAD_PORT] +
                           ["ipvsadm -a -u {vip}:%d -r {%s}:%d -g\n" % (LOAD_PORT, rs, LOAD_PORT)
                            for rs in ("rs1", "rs2")])
    with new_lab(tag="dfs", cls=L.SyncVrrpLab, more_services=load_service, drfwd_args=("--conn-table-size", str(TABLE))) as lab:
        check(lab.masters() == ["lb1"], "master: %s" % lab.masters())
        pids = {r: lab.d(r).proc.pid for r in lab.directors}
        # Each run from source addresses of its own (up to 65,000 flows per address).
        runs = (("uncapped", ["198.18.0.%d" % i for i in range(200, 204)], None, LOAD_SECONDS),
                ("capped", ["198.18.0.%d" % i for i in range(204, 206)], CAP_RATE, CAP_SECONDS))
        for _, sources, _, _ in runs:
            for addr in sources:
                lab.run("client", "ip", "addr", "add", addr + "/32", "dev", "eth0", check=True)
        rss0 = {r: rss_kib(p) for r, p in pids.items()}
        applied = 0  # records the backup applied, each a new flow: entries it must hold
        for name, sources, cap, seconds in runs:
            if cap:
                lab.d("lb1").ctl("set", "sync-rate", str(cap), check=True)
            m0, b0, new0 = lab.sync_counters("lb1"), lab.sync_counters("lb2"), stat(lab, "lb1", "conn_new")
            load = run_load(lab, sources, LOAD_RATE, seconds)
            settle(lab)
            m, b = delta(lab.sync_counters("lb1"), m0), delta(lab.sync_counters("lb2"), b0)
            new = stat(lab, "lb1", "conn_new") - new0
            applied += b["sync_applied"]
            print("sync load (%s%s): client sent %d new flows in %.2fs (%d/s, max lag %.3fs)" %
                  (name, ", set sync-rate %d" % cap if cap else "", load["flows"], load["seconds"],
                   load["rate"], load["max_lag"]), flush=True)
            print("  master: %d new connections scheduled, sync_queued %d, sync_capped %d, sync_ring_full %d, "
                  "records_unknown %d, send_errors %d" % (new, m["sync_queued"], m["sync_capped"],
                                                          m["sync_ring_full"], m["records_unknown"],
                                                          m["send_errors"]), flush=True)
            per_record = m["bytes_sent"] / max(1, m["records_sent"])
            print("  master sent %d messages, %d records, %d bytes (%.1f records/message, %.1f bytes/record, "
                  "%.0f kB/s over the run)" % (m["messages_sent"], m["records_sent"], m["bytes_sent"],
                                               m["records_sent"] / max(1, m["messages_sent"]), per_record,
                                               m["bytes_sent"] / 1000 / load["seconds"]), flush=True)
            print("  backup: messages_received %d, records_received %d, records_delivered %d, delivery_full %d, "
                  "sync_applied %d (%.1f%% of queued), exception_limited_sync %d, refused %s" %
                  (b["messages_received"], b["records_received"], b["records_delivered"], b["delivery_full"],
                   b["sync_applied"], 100.0 * b["sync_applied"] / max(1, m["sync_queued"]),
                   b.get("exception_limited_sync", 0), refused(b) or "none"), flush=True)
            check(load["errors"] == 0 and load["flows"] == int(LOAD_RATE * seconds), "sync_load.py: %s" % load)
            check(new >= 0.99 * load["flows"], "the master scheduled %d of %d flows" % (new, load["flows"]))
            if not cap:
                check(m["sync_queued"] >= 0.99 * new, "the master queued %d records for %d new flows" %
                      (m["sync_queued"], new))
                check(b["sync_applied"] >= 0.9 * m["sync_queued"], "the backup applied %d of %d records queued" %
                      (b["sync_applied"], m["sync_queued"]))
            else:
                limit = cap * load["seconds"] + max(32, cap / 20) + cap * 0.5  # + the burst, + 0.5 s of slack
                check(m["sync_capped"] > 0, "nothing capped at %d records/s" % cap)
                check(m["sync_queued"] <= limit and m["records_sent"] <= limit,
                      "capped at %d/s for %.1fs, yet %d queued, %d sent" % (cap, load["seconds"], m["sync_queued"],
                                                                          m["records_sent"]))
                print("  cap: %d records queued and %d sent in %.2fs = %.0f/s (cap %d/s), %d capped" %
                      (m["sync_queued"], m["records_sent"], load["seconds"], m["sync_queued"] / load["seconds"], cap,
                       m["sync_capped"]), flush=True)
        table = {r: (stat(lab, r, "conns_in_use"), stat(lab, r, "conn_evicted")) for r in lab.directors}
        print("connection tables (--conn-table-size %d): %s" % (TABLE, ", ".join(
            "%s %d entries in use, %d evicted" % ((r,) + table[r]) for r in lab.directors)), flush=True)
        for r in lab.directors:
            check(table[r][1] == 0, "%s evicted %d connections: the table is too small" % (r, table[r][1]))
        check(table["lb2"][0] >= applied, "the backup holds %d entries, it applied %d records" %
              (table["lb2"][0], applied))
        rss1 = {r: rss_kib(p) for r, p in pids.items()}
        print("memory (VmRSS): %s" % ", ".join("%s %.1f -> %.1f MiB" % (r, rss0[r] / 1024, rss1[r] / 1024)
                                                for r in lab.directors), flush=True)
        for r in lab.directors:
            check(rss1[r] - rss0[r] < 64 * 1024, "%s's drfwd grew by %d KiB" % (r, rss1[r] - rss0[r]))
            check(lab.d(r).ctl("show", "sync").returncode == 0, "%s's drfwd does not answer" % r)
        quit_keepalived(lab)
        for r in ("lb2", "lb1"):
            check(lab.d(r).stop() == 0, "%s's drfwd exit status:\n%s" % (r, lab.d(r).tail_log()))
