"""Runs drfwd over net_pcap: scapy frames in, forwarded frames and counters out.

Each run gets its own temporary directory. drfwd is stopped with SIGINT once its
periodic statistics show every input frame received, so the pcap output is complete
(ports are closed on the way out) and the exit status is checked.
"""
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import threading
import time

from scapy.all import Ether, rdpcap  # noqa: F401  (re-exported for tests)

from drfwdtest import check, drfwd_binary  # noqa: F401  (tests/drfwdtest.py, shared with e2e; re-exported)

PORT_MAC = "02:70:63:61:70:00"   # net_pcap's first port
PORT1_MAC = "02:70:63:61:70:01"
CLIENT_MAC = "02:00:00:00:01:01"
EAL = ["--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--log-level", "lib.eal:warning"]

class Result:
    def __init__(self, rc, stdout, stderr, outputs, stats):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.outputs = outputs          # per port: per queue: list of scapy packets
        self.stats = stats              # the --stats-json document (None if absent)

    def forwarded(self, port=0):
        """IPv4 frames sent out of `port` (forwarded traffic)."""
        return [p for q in self.outputs[port] for p in q if p.haslayer(Ether) and p[Ether].type == 0x0800]

    def arp(self, port=0):
        """ARP frames drfwd sent out of `port` (answers, announcements, resolution)."""
        return [p for q in self.outputs[port] for p in q if p.haslayer(Ether) and p[Ether].type == 0x0806]

    def frames(self, port=0):
        """Every frame sent out of `port`, tagged or not, in order (all queues)."""
        return [p for q in self.outputs[port] for p in q]

    def of_type(self, ethertype, port=0):
        """Frames sent out of `port` whose EtherType behind any VLAN tags is `ethertype`
        (0x0800 forwarded IPv4, 0x0806 ARP), tagged or not: as (frame bytes, L2Header)."""
        out = []
        for p in self.frames(port):
            b = bytes(p)
            l2 = parse_l2(b)
            if l2 is not None and l2.type == ethertype:
                out.append((b, l2))
        return out

    def total(self, key):
        return self.stats["totals"][key]

    def drops(self):
        return self.stats["totals"]["drops"]


def cleanup(tmp):
    if not os.environ.get("DRFWD_KEEP_TMP"):
        shutil.rmtree(tmp, ignore_errors=True)


def write_pcap(path, frames):
    """Classic pcap, Ethernet link type; frames are scapy packets or raw bytes (any length)."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            b = bytes(fr)
            f.write(struct.pack("<IIII", i // 1000000, i % 1000000, len(b), len(b)))
            f.write(b)


def rx_counts(lines):
    """Latest RX-packets per port from drfwd's periodic statistics."""
    counts = {}
    port = None
    for line in list(lines):
        m = re.match(r"\s*#+ NIC statistics for port (\d+)", line)
        if m:
            port = int(m.group(1))
            continue
        m = re.match(r"\s*RX-packets: (\d+)", line)
        if m and port is not None:
            counts[port] = int(m.group(1))
    return counts


def run(config, inputs, workers=1, ports=1, extra=(), expect_rx=None, timeout=60, name="case"):
    """inputs: per port, per queue (worker), a list of frames.

    Returns a Result. With workers > 1 the lcores are mapped so two workers share CPU 1.
    """
    binary = drfwd_binary()
    tmp = tempfile.mkdtemp(prefix="drfwd-pcap-%s-" % name)
    conf = os.path.join(tmp, "drfwd.conf")
    with open(conf, "w") as f:
        f.write(config)
    vdevs = []
    outs = []
    total_in = 0
    for p in range(ports):
        args = []
        outs.append([])
        for q in range(workers):
            frames = inputs[p][q] if p < len(inputs) and q < len(inputs[p]) else []
            if not isinstance(frames, (list, tuple)):
                raise TypeError("inputs are [port][queue] -> list of frames; got %r" % type(frames))
            total_in += len(frames)
            rx = os.path.join(tmp, "in-p%d-q%d.pcap" % (p, q))
            tx = os.path.join(tmp, "out-p%d-q%d.pcap" % (p, q))
            write_pcap(rx, frames)
            args += ["rx_pcap=" + rx, "tx_pcap=" + tx]
            outs[p].append(tx)
        vdevs += ["--vdev", "net_pcap%d,%s" % (p, ",".join(args))]
    lcores = ["-l", "0,1"] if workers == 1 else ["--lcores", "0@0," + ",".join("%d@1" % (i + 1) for i in range(workers))]
    stats_json = os.path.join(tmp, "stats.json")
    cmd = [binary] + lcores + EAL + vdevs + ["--", "-f", conf, "--stats-period", "0.05",
                                           "--stats-json", stats_json, "--conn-table-size", "65536",
                                           "--idle-backoff", "200", "--no-kernel-interfaces",
                                           "--socket", os.path.join(tmp, "ctl", "drfwd.sock")] + list(extra)
    expect = total_in if expect_rx is None else expect_rx
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    errors = []
    t_out = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    t_err = threading.Thread(target=lambda: errors.extend(iter(proc.stderr.readline, "")), daemon=True)
    t_out.start()
    t_err.start()
    try:
        deadline = time.time() + timeout
        while True:
            received = rx_counts(lines)
            if sum(received.values()) >= expect and len(received) == ports:
                break
            if proc.poll() is not None:
                break
            if time.time() > deadline:
                raise AssertionError("drfwd did not receive %d frames within %ds (saw %s)\n%s"
                                     % (expect, timeout, received, "".join(errors)))
            time.sleep(0.05)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        t_out.join(5)
        t_err.join(5)
    stdout = "".join(lines)
    err = "".join(errors)
    outputs = []
    for p in range(ports):
        outputs.append([rdpcap(f) if os.path.exists(f) and os.path.getsize(f) > 24 else [] for f in outs[p]])
    stats = None
    if os.path.exists(stats_json):
        with open(stats_json) as f:
            stats = json.load(f)
    cleanup(tmp)
    check_accounting(proc.returncode, err)
    return Result(proc.returncode, stdout, err, outputs, stats)


def run_expect_failure(config, extra=(), eal=None, lcores=("-l", "0,1"), timeout=30):
    """Runs drfwd expecting it to refuse to start; returns (rc, stdout, stderr).

    config None: no -f option. eal: replaces the EAL arguments entirely."""
    tmp = tempfile.mkdtemp(prefix="drfwd-pcap-fail-")
    conf = os.path.join(tmp, "drfwd.conf")
    if config is not None:
        with open(conf, "w") as f:
            f.write(config)
    rx = os.path.join(tmp, "in.pcap")
    write_pcap(rx, [Ether(src=CLIENT_MAC, dst=PORT_MAC)])
    tx = os.path.join(tmp, "out.pcap")
    eal_args = eal if eal is not None else list(lcores) + EAL + ["--vdev", "net_pcap0,rx_pcap=%s,tx_pcap=%s" % (rx, tx)]
    cmd = [drfwd_binary()] + eal_args + ["--", "--no-kernel-interfaces", "--socket", "none"] + \
        (["-f", conf] if config is not None else []) + list(extra)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    finally:
        cleanup(tmp)
    return p.returncode, p.stdout, p.stderr


EXIT_ACCOUNTING = 3  # drfwd stopped, but an mbuf or a connection entry was unaccounted


def check_accounting(rc, stderr):
    """Every run, whatever the test: at exit every mbuf is back in its pool and every
    connection entry and per-RS connection gauge is accounted for."""
    if rc == EXIT_ACCOUNTING:
        raise AssertionError("accounting at exit failed:\n" +
                             "".join(l for l in stderr.splitlines(True) if "at exit" in l))


TPID_8021Q = 0x8100
TPID_8021AD = 0x88a8


def tagged(frame, vid, pcp=0, tpid=TPID_8021Q):
    """The frame (scapy packet or bytes) with one more VLAN tag in front of its
    EtherType (outermost). Bytes."""
    b = bytes(frame)
    return b[:12] + struct.pack("!HH", tpid, (pcp << 13) | (vid & 0x0fff)) + b[12:]


class L2Header:
    """A frame's Ethernet addresses, its VLAN tags (outermost first, as (tpid, pcp,
    vid)), the EtherType behind them and where the payload (the IP packet) starts."""

    def __init__(self, dst, src, tags, type_, offset):
        self.dst = dst
        self.src = src
        self.tags = tags
        self.type = type_
        self.offset = offset

    @property
    def vids(self):
        return [t[2] for t in self.tags]

    def __repr__(self):
        return "L2(%s > %s tags %s type 0x%04x)" % (self.src, self.dst, self.tags, self.type)


def _mac(b):
    return ":".join("%02x" % x for x in b)


def parse_l2(b):
    """L2Header of raw frame bytes (802.1Q and 802.1ad tags walked), None if the frame
    is too short to hold its tags and an EtherType."""
    b = bytes(b)
    if len(b) < 14:
        return None
    off, tags = 12, []
    while True:
        if len(b) < off + 2:
            return None
        t = struct.unpack("!H", b[off:off + 2])[0]
        if t not in (TPID_8021Q, TPID_8021AD):
            return L2Header(_mac(b[0:6]), _mac(b[6:12]), tags, t, off + 2)
        if len(b) < off + 4:
            return None
        tci = struct.unpack("!H", b[off + 2:off + 4])[0]
        tags.append((t, tci >> 13, tci & 0x0fff))
        off += 4


def payload_bytes(frame):
    """Everything behind the Ethernet header and its VLAN tags (the IP packet as
    carried): what forwarding must leave byte-identical whatever the tags."""
    b = bytes(frame)
    return b[parse_l2(b).offset:]


def l3_bytes(pkt):
    """Everything after the Ethernet addresses: must be byte-identical after forwarding."""
    return bytes(pkt)[12:]


def drfwdctl_binary():
    return os.path.join(os.path.dirname(drfwd_binary()), "drfwdctl")


class Drfwd:
    """A drfwd kept running over net_pcap while a test talks to it.

    rx: a list of frames (written to a pcap file) or a path (e.g. a FIFO the test
    writes). Use as a context manager; stop() returns the exit status."""

    def __init__(self, config, rx=(), extra=(), eal_extra=(), stdin=None, name="drfwd"):
        self.tmp = tempfile.mkdtemp(prefix="drfwd-op-%s-" % name)
        self.conf = os.path.join(self.tmp, "drfwd.conf")
        with open(self.conf, "w") as f:
            f.write(config)
        if isinstance(rx, str):
            self.rx = rx
        else:
            self.rx = os.path.join(self.tmp, "in.pcap")
            write_pcap(self.rx, rx)
        self.out = os.path.join(self.tmp, "out.pcap")
        self.socket = os.path.join(self.tmp, "ctl", "drfwd.sock")
        self.stats_json = os.path.join(self.tmp, "stats.json")
        self.cmd = [drfwd_binary(), "-l", "0,1"] + EAL + list(eal_extra) + [
            "--vdev", "net_pcap0,rx_pcap=%s,tx_pcap=%s" % (self.rx, self.out), "--",
            "-f", self.conf, "--stats-period", "0.05", "--stats-json", self.stats_json,
            "--conn-table-size", "65536", "--idle-backoff", "200", "--no-kernel-interfaces",
            "--socket", self.socket] + list(extra)
        self.stdin = stdin
        self.proc = None
        self.lines = []
        self.errors = []

    def start(self):
        self.proc = subprocess.Popen(self.cmd, stdin=self.stdin if self.stdin is not None else subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=lambda: self.lines.extend(iter(self.proc.stdout.readline, "")), daemon=True).start()
        threading.Thread(target=lambda: self.errors.extend(iter(self.proc.stderr.readline, "")), daemon=True).start()
        return self

    def wait_socket(self, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if os.path.exists(self.socket) and "forwarding on" in "".join(self.errors):
                return
            if self.proc.poll() is not None:
                raise AssertionError("drfwd exited: %s" % "".join(self.errors))
            time.sleep(0.05)
        raise AssertionError("no control socket after %ds" % timeout)

    def wait_rx(self, n, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if sum(rx_counts(self.lines).values()) >= n:
                return
            if self.proc.poll() is not None:
                raise AssertionError("drfwd exited: %s" % "".join(self.errors))
            time.sleep(0.05)
        raise AssertionError("drfwd did not receive %d frames (saw %s)" % (n, rx_counts(self.lines)))

    def ctl(self, *words, stdin_text=None, user=None):
        cmd = [drfwdctl_binary(), "-s", self.socket] + list(words)
        if user:
            cmd = ["setpriv", "--reuid=%d" % user, "--regid=%d" % user, "--clear-groups"] + cmd
        return subprocess.run(cmd, capture_output=True, text=True, input=stdin_text, timeout=30)

    def stop(self, sig=signal.SIGINT, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        time.sleep(0.1)
        if self.proc.returncode == EXIT_ACCOUNTING:
            check_accounting(self.proc.returncode, "".join(self.errors))
        return self.proc.returncode

    def stats(self):
        with open(self.stats_json) as f:
            return json.load(f)

    def output(self):
        return rdpcap(self.out) if os.path.exists(self.out) and os.path.getsize(self.out) > 24 else []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.stop()
        cleanup(self.tmp)


def interleave(conns):
    """The first packets of all connections, then their second ones, ... (connections overlap in time)."""
    out = []
    for i in range(max(len(c) for c in conns)):
        out += [c[i] for c in conns if i < len(c)]
    return out
