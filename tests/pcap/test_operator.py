"""The operator interface against a running drfwd: the console through a pipe and a
pseudo-terminal, drfwdctl (a weight changed mid-run with the distribution following,
refusals, restore, save), ipvsadm's listings on real counters, the socket's access
control, and DPDK telemetry."""
import json
import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import time
from collections import Counter

from scapy.all import IP, TCP, Ether

import harness as h

VIP = "198.18.1.10"
CONF = ("port 0 address 198.18.0.2/24\n"
        "vip add %s tcp 80 sched wrr\nrs add %s tcp 80 198.18.0.11\nrs add %s tcp 80 198.18.0.12\n"
        "neigh add 198.18.0.11 02:00:00:00:00:11\nneigh add 198.18.0.12 02:00:00:00:00:12\n") % (VIP, VIP, VIP)
RS_OF_MAC = {"02:00:00:00:00:11": "RS1", "02:00:00:00:00:12": "RS2"}


def syns(n, first_port, src="198.18.2.1"):
    e = Ether(src=h.CLIENT_MAC, dst=h.PORT_MAC)
    return [e / IP(src=src, dst=VIP) / TCP(sport=first_port + i, dport=80, flags="S") for i in range(n)]


def test_weight_change_mid_run_distribution_follows():
    tmp = os.path.join("/tmp", "drfwd-fifo-%d" % os.getpid())
    os.makedirs(tmp, exist_ok=True)
    fifo = os.path.join(tmp, "rx.pcap")
    os.mkfifo(fifo)
    d = h.Drfwd(CONF, rx=fifo, name="fifo").start()
    w = None
    try:
        w = open(fifo, "wb")  # meets drfwd's open of its rx_pcap
        w.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))

        def write(frames):
            for i, f in enumerate(frames):
                b = bytes(f)
                w.write(struct.pack("<IIII", 1, i, len(b), len(b)) + b)
            w.flush()

        write(syns(128, 10000))  # a multiple of the 32-frame burst: none held in a burst
        d.wait_rx(128)
        d.wait_socket()
        r = d.ctl("rs", "set", VIP, "tcp", "80", "198.18.0.12", "weight", "3")
        h.check(r.returncode == 0, "weight change refused: %s" % r.stderr)
        r = d.ctl("ipvsadm", "-L", "-n")
        h.check("  -> 198.18.0.12:80               Route   3      " in r.stdout, "weight not listed:\n" + r.stdout)
        write(syns(128, 20000))
        w.close()
        w = None
        d.wait_rx(256)
        h.check(d.stop() == 0, "exit status")
        frames = [p for p in d.output() if p.haslayer(TCP)]  # not the VIP announcements
    finally:
        if w:
            w.close()
        d.__exit__(None, None, None)
        shutil.rmtree(tmp, ignore_errors=True)
    before = Counter(RS_OF_MAC[p[Ether].dst] for p in frames if p[TCP].sport < 20000)
    after = Counter(RS_OF_MAC[p[Ether].dst] for p in frames if p[TCP].sport >= 20000)
    h.check(before == Counter({"RS1": 64, "RS2": 64}), "weights 1:1 gave %s" % dict(before))
    h.check(after == Counter({"RS1": 32, "RS2": 96}), "weights 1:3 gave %s" % dict(after))


def test_ipvsadm_listings_on_real_counters():
    with h.Drfwd(CONF, rx=syns(30, 30000)) as d:
        d.wait_rx(30)
        d.wait_socket()
        r = d.ctl("ipvsadm", "-L", "-n")
        want = ["IP Virtual Server version 1.2.1 (size=65536)",
                "Prot LocalAddress:Port Scheduler Flags",
                "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
                "TCP  198.18.1.10:80 wrr",
                "  -> 198.18.0.11:80               Route   1      0          15        ",
                "  -> 198.18.0.12:80               Route   1      0          15        "]
        h.check(r.stdout.splitlines() == want, "ipvsadm -L -n:\n%s" % r.stdout)
        r = d.ctl("ipvsadm", "-L", "-n", "--stats")
        want = ["IP Virtual Server version 1.2.1 (size=65536)",
                "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes",
                "  -> RemoteAddress:Port",
                "TCP  198.18.1.10:80                     30       30        0     1620        0",
                "  -> 198.18.0.11:80                     15       15        0      810        0",
                "  -> 198.18.0.12:80                     15       15        0      810        0"]
        h.check(r.stdout.splitlines() == want, "ipvsadm -L -n --stats:\n%s" % r.stdout)
        r = d.ctl("ipvsadm", "-S", "-n")
        want = ["-A -t 198.18.1.10:80 -s wrr",
                "-a -t 198.18.1.10:80 -r 198.18.0.11:80 -g -w 1",
                "-a -t 198.18.1.10:80 -r 198.18.0.12:80 -g -w 1"]
        h.check(r.stdout.splitlines() == want, "ipvsadm -S -n:\n%s" % r.stdout)
        r = d.ctl("ipvsadm", "-lnc")
        rows = r.stdout.splitlines()
        h.check(rows[:2] == ["IPVS connection entries",
                             "pro expire state       source             virtual            destination"], r.stdout)
        h.check(len(rows) == 32 and all(re.match(r"TCP (00:[45]\d|01:00)  SYN_RECV    198\.18\.2\.1:30", x)
                                        for x in rows[2:]), "connection rows:\n" + r.stdout)
        # Zeroing, then counters only (the connection gauges stay).
        h.check(d.ctl("ipvsadm", "-Z").returncode == 0, "ipvsadm -Z")
        r = d.ctl("ipvsadm", "-L", "-n", "--stats")
        h.check(r.stdout.splitlines()[3].split()[2:] == ["0", "0", "0", "0", "0"], "after -Z:\n" + r.stdout)
        r = d.ctl("ipvsadm", "-L", "-n")
        h.check(r.stdout.splitlines()[4].split()[-1] == "15", "-Z cleared the connection gauges:\n" + r.stdout)


def test_drfwdctl_refusals_restore_and_save():
    with h.Drfwd(CONF, rx=syns(4, 31000)) as d:
        d.wait_rx(4)
        d.wait_socket()
        r = d.ctl("rs", "set", VIP, "tcp", "80", "198.18.0.99", "weight", "2")
        h.check(r.returncode == 1 and "is not in service" in r.stderr, r.stderr)
        r = d.ctl("rs", "set", VIP, "tcp", "80", "198.18.0.11", "weight", "heavy")
        h.check(r.returncode == 1 and "'heavy' is not a valid weight" in r.stderr and "usage: rs set" in r.stderr,
                r.stderr)
        r = d.ctl("frobnicate")
        h.check(r.returncode == 1 and "unknown command 'frobnicate'" in r.stderr, r.stderr)
        r = subprocess.run([h.drfwdctl_binary(), "-s", "/nonexistent/sock", "show", "vips"], capture_output=True,
                           text=True)
        h.check(r.returncode == 2 and "cannot connect" in r.stderr, r.stderr)
        r = subprocess.run([h.drfwdctl_binary()], capture_output=True, text=True)
        h.check(r.returncode == 2 and "Usage" in r.stderr, r.stderr)
        # ipvsadm -R from stdin, as one batch; a bad line applies nothing.
        rules = ("-A -u 198.18.1.10:53 -s sh -p 60\n-a -u 198.18.1.10:53 -r 198.18.0.11:53 -g -w 1\n"
                 "-a -u 198.18.1.10:53 -r 198.18.0.12:53 -g -w 2\n")
        bad = rules + "-a -u 198.18.1.10:53 -r 198.18.0.13:54 -g\n"
        r = d.ctl("-R", stdin_text=bad)
        h.check(r.returncode == 1 and "line 4" in r.stderr and "nothing was applied" in r.stderr, r.stderr)
        h.check("UDP" not in d.ctl("ipvsadm", "-L", "-n").stdout, "a refused batch changed something")
        r = d.ctl("-R", stdin_text=rules)
        h.check(r.returncode == 0, r.stderr)
        h.check("UDP  198.18.1.10:53 sh persistent 60" in d.ctl("ipvsadm", "-L", "-n").stdout, "restore missing")
        # save config, then a new drfwd from the saved file shows the same configuration.
        saved = os.path.join(d.tmp, "saved.conf")
        h.check(d.ctl("save", "config", saved).returncode == 0, "save config")
        shown = d.ctl("show", "config").stdout
        # Runtime log level, and clear stats.
        h.check(d.ctl("set", "log-level", "debug").returncode == 0, "set log-level")
        h.check(d.ctl("clear", "stats").returncode == 0, "clear stats")
        r = d.ctl("show", "stats")
        h.check(r.returncode == 0 and "WORKER" in r.stdout and "drops:" in r.stdout, r.stdout)
        for q in ("show vips", "show rs", "show ports", "show neigh", "show conns", "help"):
            r = d.ctl(*q.split())
            h.check(r.returncode == 0 and r.stdout, "%s: %s" % (q, r.stderr))
        ports = d.ctl("show", "ports").stdout.splitlines()
        h.check(len(ports) == 2 and ports[0].split()[6] == "MTU" and ports[1].split()[6] == "1500",
                "show ports:\n" + "\n".join(ports))
        with open(saved) as f:
            saved_text = f.read()
    with h.Drfwd(saved_text, rx=syns(1, 32000), name="resaved") as d2:
        d2.wait_socket()
        h.check(d2.ctl("show", "config").stdout == shown, "show config differs after a restart from save config")
    # --import-ipvsadm loads an ipvsadm-save file at start.
    tmp = os.path.join("/tmp", "drfwd-import-%d.rules" % os.getpid())
    with open(tmp, "w") as f:
        f.write("# from ipvsadm-save\n" + rules)
    try:
        with h.Drfwd("port 0 address 198.18.0.2/24\n", rx=syns(1, 33000), extra=["--import-ipvsadm", tmp],
                     name="import") as d3:
            d3.wait_socket()
            out = d3.ctl("ipvsadm", "-S", "-n").stdout
            h.check(out.splitlines() == ["-A -u 198.18.1.10:53 -s sh -p 60",
                                         "-a -u 198.18.1.10:53 -r 198.18.0.11:53 -g -w 1",
                                         "-a -u 198.18.1.10:53 -r 198.18.0.12:53 -g -w 2"], out)
    finally:
        os.unlink(tmp)


def test_socket_only_for_root_and_drfwds_user():
    with h.Drfwd(CONF, rx=syns(1, 34000)) as d:
        d.wait_socket()
        mode = os.stat(d.socket).st_mode & 0o777
        h.check(mode == 0o600, "socket mode %o" % mode)
        r = d.ctl("show", "vips", user=65534)  # nobody: the file mode stops it
        h.check(r.returncode == 2 and "Permission denied" in r.stderr, "nobody connected: %s" % r.stderr)
        # Even with the file opened up, drfwd checks the peer's credentials.
        os.chmod(d.tmp, 0o755)
        os.chmod(os.path.dirname(d.socket), 0o755)
        os.chmod(d.socket, 0o666)
        r = d.ctl("show", "vips", user=65534)
        h.check(r.returncode == 1 and "only root or drfwd's user" in r.stderr, "nobody served: %s %s" % (r.stdout, r.stderr))
        before = d.ctl("show", "config").stdout
        r = d.ctl("vip", "del", "198.18.1.10", "tcp", "80", user=65534)
        h.check(r.returncode == 1 and "only root or drfwd's user" in r.stderr, "nobody's change: %s" % r.stderr)
        h.check(d.ctl("show", "config").stdout == before, "a refused peer changed the configuration")
        h.check(d.ctl("show", "vips").returncode == 0, "root refused")


def test_console_through_a_pipe():
    script = ("show vips\nvip add 198.18.1.20 udp 53 sched mh\nrs add 198.18.1.20 udp 53 198.18.0.11\n"
              "ipvsadm -L -n\nbogus words\nrs add 198.18.1.20 udp 53 198.18.0.11\nquit\n")
    r = subprocess.run([h.drfwd_binary(), "-l", "0,1"] + h.EAL + ["--vdev", "net_null0", "--", "-i", "--socket", "none",
                        "--no-kernel-interfaces", "--idle-backoff", "500", "-f", "/dev/null"],
                       input=script, capture_output=True, text=True, timeout=60)
    out = r.stdout
    h.check(r.returncode == 0, "exit %d: %s" % (r.returncode, r.stderr))
    h.check("drfwd> show vips" in out and "no services" in out, out)
    h.check("added service udp 198.18.1.20:53 (mh)" in out, out)
    h.check("UDP  198.18.1.20:53 mh\n  -> 198.18.0.11:53               Route   1" in out, out)
    h.check("unknown command 'bogus' 'words'" in out and "usage:" in out, out)
    h.check("already exists in service" in out, out)
    h.check("Final statistics" in out, "did not stop through quit")
    # End of input without quit stops drfwd too (as testpmd -i).
    r = subprocess.run([h.drfwd_binary(), "-l", "0,1"] + h.EAL + ["--vdev", "net_null0", "--", "-i", "--socket", "none",
                        "--no-kernel-interfaces", "--idle-backoff", "500"], input="show vips\n", capture_output=True,
                       text=True, timeout=60)
    h.check(r.returncode == 0 and "Final statistics" in r.stdout, "EOF: exit %d" % r.returncode)


def test_console_on_a_terminal_completes():
    cmd = [h.drfwd_binary(), "-l", "0,1"] + h.EAL + ["--vdev", "net_null0", "--", "-i", "--socket", "none",
                                                      "--no-kernel-interfaces", "--idle-backoff", "500",
                                                      "--log-level", "warn"]
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(cmd[0], cmd)

    def read_for(t, until=lambda out: False, quiet=0.1):
        """What drfwd writes for t seconds (up to its exit); once until(what came so far)
        holds, only until nothing more has come for `quiet` seconds."""
        out = b""
        end = time.time() + t
        while time.time() < end:
            done = until(out.decode(errors="replace"))
            r, _, _ = select.select([fd], [], [], quiet if done else 0.1)
            if r:
                try:
                    out += os.read(fd, 4096)
                except OSError:
                    break
            elif done:
                break
        return out.decode(errors="replace")

    choices = ("vips", "rs", "stats", "ports", "neigh", "conns", "config")
    try:
        h.check("drfwd> " in read_for(3, lambda o: "drfwd> " in o), "no prompt")
        os.write(fd, b"sh\t")
        h.check(read_for(0.5, lambda o: o.startswith("show ")).startswith("show "),
                "sh<TAB> did not complete to 'show '")
        os.write(fd, b"\t")
        listing = read_for(0.5, lambda o: all(" %s" % c in o for c in choices) and "drfwd> show " in o)
        for choice in choices:
            h.check(" %s" % choice in listing, "<TAB> did not list %s:\n%r" % (choice, listing))
        os.write(fd, b"v\t")
        h.check(read_for(0.5, lambda o: o.startswith("vips ")).startswith("vips "), "v<TAB> did not complete to 'vips '")
        os.write(fd, b"\n")
        h.check("no services" in read_for(1, lambda o: "no services" in o and "drfwd> " in o), "show vips did not run")
        os.write(fd, b"help\n")
        h.check("save config" in read_for(1, lambda o: "save config" in o and o.endswith("drfwd> ")), "help")
        os.write(fd, b"quit\n")
        read_for(3)
    finally:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        _, status = os.waitpid(pid, 0)
    h.check(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, "exit status %r" % status)


def test_telemetry():
    prefix = "drfwdtest%d" % os.getpid()
    with h.Drfwd(CONF, rx=syns(6, 35000), eal_extra=["--file-prefix", prefix], name="tel") as d:
        d.wait_rx(6)
        d.wait_socket()

        def ask():
            # dpdk-telemetry.py under this interpreter: through a pyenv shim on PATH, each
            # start of it would take about a second
            r = subprocess.run([sys.executable, shutil.which("dpdk-telemetry.py"), "-f", prefix],
                               input="/drfwd/vips\n/drfwd/rs\n/drfwd/stats\n", capture_output=True, text=True,
                               timeout=30)
            replies = {}
            for line in r.stdout.splitlines():
                line = line.strip()
                if line.startswith("{"):
                    replies.update(json.loads(line))
            return replies

        def complete(replies):
            vips = list(replies.get("/drfwd/vips", {}).values())
            return len(vips) == 1 and vips[0]["conns"] == 6 and len(replies.get("/drfwd/rs", {})) == 2 and \
                replies.get("/drfwd/stats", {}).get("forwarded") == 6

        # telemetry's copy is refreshed every second: asked until it shows the 6
        # connections, the last time no earlier than 1.5 s from now
        deadline = time.time() + 1.5
        asked = time.time()
        replies = ask()
        while not complete(replies) and asked < deadline:
            time.sleep(max(0.0, min(0.2, deadline - time.time())))
            asked = time.time()
            replies = ask()
        vips = list(replies.get("/drfwd/vips", {}).values())
        h.check(len(vips) == 1 and vips[0]["service"] == "198.18.1.10:80/tcp" and vips[0]["conns"] == 6,
                "vips: %s" % replies)
        rs = sorted(v["ip"] for v in replies.get("/drfwd/rs", {}).values())
        h.check(rs == ["198.18.0.11", "198.18.0.12"], "rs: %s" % replies.get("/drfwd/rs"))
        h.check(replies.get("/drfwd/stats", {}).get("forwarded") == 6, "stats: %s" % replies.get("/drfwd/stats"))
    shutil.rmtree("/var/run/dpdk/" + prefix, ignore_errors=True)
