"""Refusals at start: a bad option, configuration or lcore layout stops drfwd with a
clear message and a non-zero status before any port is started."""
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time

import harness as h
from drfwdtest import skip_without_netns

GOOD = "vip add 198.18.1.10 tcp 80\n"
PORT_STARTED = "(net_pcap0): net_pcap MAC"


def expect_refusal(config, says, extra=(), eal=None, lcores=("-l", "0,1")):
    rc, out, err = h.run_expect_failure(config, extra=extra, eal=eal, lcores=lcores)
    h.check(rc != 0, "accepted (rc 0); stderr: %s" % err)
    h.check(says in err + out, "message does not say %r:\n%s" % (says, err + out))
    h.check(PORT_STARTED not in err, "a port was started before the refusal")


def test_config_error_names_file_and_line():
    conf = "# services\nvip add 198.18.1.10 tcp 80\nrs add 198.18.1.10 tcp 80 198.18.0.11 weight heavy\n"
    rc, out, err = h.run_expect_failure(conf)
    h.check(rc == 1, "rc %d" % rc)
    h.check("drfwd.conf:3: " in err and "'heavy' is not a valid weight" in err, err)
    h.check("usage: rs add" in err, "no usage line:\n" + err)
    h.check(PORT_STARTED not in err, "a port was started")


def test_ipvsadm_nat_is_refused():
    expect_refusal(GOOD + "ipvsadm -a -t 198.18.1.10:80 -r 198.18.0.11 -m\n", "only direct routing")


def test_unknown_scheduler_lists_the_supported_ones():
    expect_refusal("ipvsadm -A -t 198.18.1.10:80 -s lblc\n", "supported schedulers are rr, wrr, sh, hash, mh, lc, wlc, sed, nq")


def test_port_that_does_not_exist():
    expect_refusal("port 3 address 198.18.0.2/24\n", "port 3 does not exist")


def test_missing_config_file():
    rc, out, err = h.run_expect_failure(None, extra=["-f", "/nonexistent/drfwd.conf"])
    h.check(rc != 0 and "cannot open" in err, err)


def test_no_worker_lcore():
    expect_refusal(GOOD, "no worker lcore", eal=["-l", "0"] + h.EAL + ["--vdev", "net_null0"])


def test_more_workers_than_queues():
    # one rx_pcap gives net_pcap one queue; two workers need two
    expect_refusal(GOOD, "workers need one each", lcores=["--lcores", "0@0,1@1,2@1"])


def test_no_port():
    expect_refusal(GOOD, "no ports", eal=["-l", "0,1"] + h.EAL)


def test_driver_presets():
    tool = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "eal-args")
    tool = os.path.normpath(tool)
    presets = subprocess.run([tool, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for want in ("af_packet", "tap", "pcap", "virtio", "mlx5", "ixgbe", "i40e", "ice"):
        h.check(want in presets, "no %s preset" % want)
    # Run as a script once (above); then under this interpreter: the shebang finds
    # python3 on PATH, which may be a pyenv shim taking about a second to start it.
    tool = [sys.executable, tool]
    values = ["IN=a.pcap", "OUT=b.pcap", "IFACE=x", "PCI=0000:00:04.0"]
    for p in presets:
        r = subprocess.run(tool + [p] + values, capture_output=True, text=True)
        h.check(r.returncode == 0 and r.stdout.strip(), "preset %s: %s" % (p, r.stderr))
    r = subprocess.run(tool + ["af_packet"], capture_output=True, text=True)
    h.check(r.returncode == 2 and "IFACE" in r.stderr, "a missing value is not named: " + r.stderr)
    # The null preset starts drfwd for real; it must stop cleanly on SIGINT.
    eal = subprocess.run(tool + ["null"], capture_output=True, text=True, check=True).stdout.split()
    p = subprocess.Popen([h.drfwd_binary()] + eal + ["--", "--idle-backoff", "500", "--no-kernel-interfaces", "--socket", "none"],
                         stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    h.check(p.returncode == 0, "null preset run: rc %d %s" % (p.returncode, err))
    h.check("Final statistics" in out and ("not-ipv4" in out or "not-our-mac" in out), "no drops shown:\n" + out)


def start_stop(cmd, sig=signal.SIGINT, settle=1.5):
    """Starts drfwd, lets it run until it forwards (it logs "forwarding on"; `settle`
    seconds at most), checks that it still runs, stops it with `sig` and checks that it
    stopped cleanly. Returns its output (stdout, stderr)."""
    with tempfile.TemporaryDirectory(prefix="drfwd-start-stop-") as tmp:
        log = os.path.join(tmp, "stderr")
        with open(log, "w") as f:  # a file of its own: read here while drfwd writes it
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=f, text=True)

        def err():
            with open(log) as f:
                return f.read()
        deadline = time.time() + settle
        while time.time() < deadline and p.poll() is None and "forwarding on" not in err():
            time.sleep(0.05)
        h.check(p.poll() is None, "exited early: %s" % (err() if p.poll() is not None else ""))
        p.send_signal(sig)
        out, _ = p.communicate(timeout=30)
        h.check(p.returncode == 0, "rc %d after %s: %s" % (p.returncode, signal.Signals(sig).name, err()[-2000:]))
        h.check("Final statistics" in out, "no final statistics")
        return out, err()


def test_sigterm_stops_gracefully():
    out, err = start_stop([h.drfwd_binary(), "-l", "0,1"] + h.EAL + ["--vdev", "net_null0", "--", "--idle-backoff", "500",
                                                                      "--no-kernel-interfaces", "--socket", "none"],
                          sig=signal.SIGTERM)
    h.check("stopped" in err, "no clean stop logged")


def test_ring_vdev():
    start_stop([h.drfwd_binary(), "-l", "0,1"] + h.EAL + ["--vdev", "net_ring0", "--", "--idle-backoff", "500",
                                                          "--no-kernel-interfaces", "--socket", "none"])


@contextlib.contextmanager
def scratch_namespace(tag):
    """A network namespace for one test, deleted afterwards (also on failure); the test
    is skipped where none can be created (not root)."""
    skip_without_netns()
    ns = "drfwd-%s-%d" % (tag, os.getpid())
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns])


def test_tap_vdev_in_a_namespace():
    with scratch_namespace("tap") as ns:
        out, _ = start_stop(["ip", "netns", "exec", ns, h.drfwd_binary(), "-l", "0,1"] + h.EAL +
                            ["--vdev", "net_tap0,iface=dtap0", "--", "--idle-backoff", "500", "--socket", "none"],
                            settle=2.5)
        h.check("port 0" in out or "NIC statistics for port 0" in out, out)



def test_mtu_reaches_the_kernel_interface():
    """--mtu applies to the data ports and to the kernel interface of each (the DIP's)."""
    with scratch_namespace("mtu") as ns:
        run_with_mtu_9000(ns)


def run_with_mtu_9000(ns):
    p = None
    try:
        p = subprocess.Popen(["ip", "netns", "exec", ns, h.drfwd_binary(), "-l", "0,1"] + h.EAL +
                             ["--vdev", "net_null0", "--", "--idle-backoff", "500", "--socket", "none",
                              "--mtu", "9000", "--mbuf-size", "9216", "--total-num-mbufs", "8192"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        link = ""
        for _ in range(50):
            link = subprocess.run(["ip", "-n", ns, "link", "show", "drfwd0"], capture_output=True, text=True).stdout
            if "UP" in link or p.poll() is not None:
                break
            time.sleep(0.1)
        h.check(p.poll() is None, "exited: %s" % (p.communicate()[1][-2000:] if p.poll() is not None else ""))
        h.check(" mtu 9000 " in link, "kernel interface: " + link)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        h.check(p.returncode == 0, "rc %d: %s" % (p.returncode, err[-2000:]))
        h.check("MTU 9000" in err, "the port's MTU is not logged:\n" + err[-2000:])
    finally:
        if p and p.poll() is None:
            p.kill()
            p.wait()


def run_opts(*args):
    return subprocess.run([h.drfwd_binary(), "--"] + list(args), capture_output=True, text=True, timeout=30)


def test_options():
    p = run_opts("--help")
    h.check(p.returncode == 0 and "Usage: drfwd [EAL options] -- [drfwd options]" in p.stdout, p.stdout)
    for opt in ("--config", "--stats-period", "--stats-json", "--log-level", "--conn-table-size", "--idle-backoff",
                "--version"):
        h.check(opt in p.stdout, "--help does not list " + opt)
    p = run_opts("--version")
    h.check(p.returncode == 0 and p.stdout.startswith("drfwd "), p.stdout)
    for bad, says in ((["--frobnicate"], "unrecognised option"), (["--log-level", "loud"], "--log-level"),
                      (["--conn-table-size", "0"], "--conn-table-size"), (["--stats-period", "x"], "stats-period"),
                      (["--mtu", "9000"], "give --mbuf-size 9146 or more"), (["--mtu", "100"], "--mtu must be")):
        p = run_opts(*bad)
        h.check(p.returncode == 2 and says in p.stderr, "%s: rc %d, %s" % (bad, p.returncode, p.stderr))


def check_config(*args):
    r = subprocess.run([h.drfwd_binary()] + list(args), capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout, r.stderr


def test_check_config():
    """drfwd -t / --check-config: no EAL, no port; every error as FILE:LINE (the lines after
    one in error still checked), exit 1; a one-line summary and exit 0 when good; the
    imports checked with it."""
    with tempfile.TemporaryDirectory() as d:
        good, bad = os.path.join(d, "good.conf"), os.path.join(d, "bad.conf")
        rules, ka = os.path.join(d, "rules"), os.path.join(d, "keepalived.conf")
        with open(good, "w") as f:
            f.write("port 0 address 198.18.0.2/24\n" + GOOD + "rs add 198.18.1.10 tcp 80 198.18.0.11\n"
                    "port 3 vlan 20 address 198.18.20.2/24\n")  # any port id: the count is known at start
        with open(bad, "w") as f:
            f.write("# two errors and a line that depends on a good one\n" + GOOD +
                    "rs add 198.18.1.10 tcp 80 198.18.0.11 weight heavy\n"
                    "rs add 198.18.1.10 tcp 80 198.18.0.12\n"
                    "vip add 198.18.1.11 tcp 80 sched lblc\n")
        with open(rules, "w") as f:
            f.write("-A -t 198.18.1.20:80 -s wlc\n-a -t 198.18.1.20:80 -r 198.18.0.21:80 -g -w 2\n")
        with open(ka, "w") as f:
            f.write("virtual_server 198.18.1.30 80 {\n  lb_kind NAT\n  real_server 198.18.0.31 80 {\n  }\n}\n")

        for form in (["-t", good], ["--check-config", good], ["--check-config=" + good], ["--", "-t", good]):
            rc, out, err = check_config(*form)
            h.check(rc == 0 and out == "drfwd: %s: configuration OK: 1 service(s), 1 real server(s)\n" % good,
                    "%s: rc %d\n%s%s" % (form, rc, out, err))
            h.check("EAL" not in err, "EAL started for a check:\n" + err)

        rc, out, err = check_config("-t", bad)
        h.check(rc == 1 and out == "", "bad file: rc %d\n%s" % (rc, out))
        lines = err.splitlines()
        h.check(len(lines) == 3, "expected two errors and the verdict:\n" + err)
        h.check(lines[0].startswith(bad + ":3: ") and "'heavy' is not a valid weight" in lines[0], err)
        h.check(lines[1].startswith(bad + ":5: ") and "supported schedulers" in lines[1], err)
        h.check(lines[2] == "drfwd: 2 error(s): configuration refused", err)

        rc, out, err = check_config("-t", good, "--import-ipvsadm", rules)
        h.check(rc == 0 and "%s, %s: configuration OK: 2 service(s), 2 real server(s)" % (good, rules) in out,
                "with --import-ipvsadm: rc %d\n%s%s" % (rc, out, err))
        rc, out, err = check_config("-t", good, "--import-keepalived", ka)
        h.check(rc == 1 and (ka + ":2: ") in err and "NAT" in err, "keepalived NAT: rc %d\n%s" % (rc, err))

        rc, out, err = check_config("-t", os.path.join(d, "missing.conf"))
        h.check(rc == 1 and "missing.conf: cannot open configuration file" in err, err)
        rc, out, err = check_config("-t")
        h.check(rc == 2 and "--check-config" in err, "no file: rc %d\n%s" % (rc, err))
