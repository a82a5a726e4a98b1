"""What the e2e tests share: adopt_orphans() (all of them), and for the redundancy tests
(tests/e2e/test_redundancy.py, test_sync.py) a lab per test with a prefix of its own,
timing an event, and the verdict on long-lived connections (tools/longlived.py's
report)."""
import ctypes
import os
import signal
import sys
import time

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(TOP, "tools"))
import lab as L  # noqa: E402
from drfwdtest import check, drfwd_binary  # noqa: E402

_count = [0]
PR_SET_CHILD_SUBREAPER = 36


def adopt_orphans():
    """Makes this process the reaper of its orphaned descendants. nginx daemonizes: its
    master outlives the process that started it, and when it exits only the process
    that inherited it can reap it. Here that is init, which reaps every second or two,
    so tools/lab.py's stop (signal, then wait until the PID is gone) waited 1.2-1.9 s
    for each nginx to vanish although it had exited within milliseconds. Adopted, it is
    this process's child, and the lab's stop reaps it at once."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def new_lab(cls, tag="dfr", **kw):
    """A lab of class `cls` with namespaces named after this process and a counter; a
    VRRP lab's teardown starts with quit_keepalived()."""
    _count[0] += 1
    if issubclass(cls, L.VrrpLab):
        cls = _quitting_keepalived_first(cls)
    return cls(prefix="%s%d-%d" % (tag, os.getpid() % 100000, _count[0]), drfwd=drfwd_binary(), log=lambda *a: None,
               **kw)


def quit_keepalived(lab):
    """Tells every director's keepalived to go at once, and returns (down() waits for
    them). Each takes about a second to leave the group in order, and down() would stop
    one after the other. Where the director's drfwd is no longer running, drfwd0 is gone
    and there is no group to leave: SIGKILL (keepalived and its VRRP child), because
    keepalived 2.2.7 then sometimes waits 5 s for its VRRP child before killing it
    itself ("vrrp process failed to die - forcing termination"). Each keepalived is
    told once: a second call (the teardown's after the test's) does not signal it, or
    its VRRP child, whose PID may be gone by then, again."""
    told = lab.__dict__.setdefault("keepalived_told", set())
    for role, d in lab.directors.items():
        pid = lab.pids.get(role + "-keepalived")
        if pid is None or pid in told:
            continue
        running = d.proc is not None and d.proc.poll() is None
        lab.stop_keepalived(role, signal.SIGTERM if running else signal.SIGKILL, wait=False)
        told.add(pid)


def _quitting_keepalived_first(cls):
    class Lab(cls):
        def stop_all(self):
            quit_keepalived(self)
            super().stop_all()
    Lab.__name__ = Lab.__qualname__ = cls.__name__
    return Lab


def timed(action, done, timeout=5.0):
    """Runs action(), then waits for done(); returns the seconds it took (None: never)."""
    t = time.time()
    action()
    return time.time() - t if L.wait_for(done, timeout, 0.02) else None


# How long after the moment a director died (or took the VIP back) the one probe open
# across it may still be failing: its retransmission reaches the survivor within the
# fail-over (under a second) plus TCP's retransmission timeout. A longer failure is an
# outage, not that race.
ACROSS_SECONDS = 2.5


def unharmed(rep, what, *moments):
    """Every long-lived connection answered throughout: none reset, failed or moved; every
    new connection (probe) served. moments: when a test killed a director, or one took
    the VIP back (time.time(), as seen: within 0.1 s). One probe open across each may
    fail, ending within ACROSS_SECONDS of it: its SYN reached one director and its next
    segment the other, which had not learned the connection (TCP is synced only once
    established, as IPVS does) and scheduled it afresh, maybe to the other real server.
    Any other failed probe fails the test."""
    s = rep["summary"]
    check(s["connected"] == len(rep["connections"]), "%s: not every connection started: %s" % (what, s))
    check(s["reset"] == 0 and s["failed"] == 0, "%s: connections reset or failed: %s" % (what, s))
    check(s["rs_changed"] == 0, "%s: connections moved to another real server: %s" % (what, s))
    probes = rep.get("probes", {})
    failures = probes.get("failures", [])
    excused = {}  # moment: the probe failing across it
    for t in moments:
        across = [f for f in failures if f[0] <= t + 0.1 and t - 0.1 <= f[1] <= t + ACROSS_SECONDS
                  and f not in excused.values()]
        if across:
            excused[t] = across[0]
    check(probes.get("ok", 1) > 0 and probes.get("failed", 0) == len(excused),
          "%s: new connections refused: %s" % (what, probes))
    for t, f in excused.items():
        print("%s: the new connection open across a fail-over failed (from %.3fs before it to %.3fs after)" %
              (what, t - f[0], f[1] - t), flush=True)
    print("%s: %d connections (per RS %s), 0 reset, 0 moved; longest wait for an answer %.2fs, "
          "slowest new connection %.2fs" % (what, s["connected"], s.get("per_rs"), s["max_latency"],
                                            probes.get("slowest", 0)), flush=True)


def forwarding(lab, role, port, seconds=1.0):
    """Packets `role`'s drfwd forwards to VIP:port over `seconds`."""
    before = lab.packets(role, port) or 0
    time.sleep(seconds)
    return (lab.packets(role, port) or 0) - before


def forwards(lab, port, *roles, within=1.0):
    """Packets each of `roles`' drfwd forwards to VIP:port from now on: {role: count},
    read until every count is above 0 or `within` seconds passed. What forwarding()
    over `within` seconds says of "> 0", without waiting out the window."""
    before = {r: lab.packets(r, port) or 0 for r in roles}
    got = {}

    def grown():
        got.update({r: (lab.packets(r, port) or 0) - before[r] for r in roles})
        return all(v > 0 for v in got.values())
    L.wait_for(grown, within, 0.05)
    return got


def shares(lab, port, seconds):
    """Packets each director forwards to VIP:port over the same `seconds`: {role: count}
    (all counted over one window rather than one window after the other)."""
    before = {r: lab.packets(r, port) or 0 for r in lab.directors}
    time.sleep(seconds)
    return {r: (lab.packets(r, port) or 0) - before[r] for r in lab.directors}
