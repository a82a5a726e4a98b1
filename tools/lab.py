#!/usr/bin/env python3
"""The LVS-DR lab in network namespaces: a client, a switch (Linux bridge), drfwd as
the director on an af_packet port, and real servers running nginx (and a UDP echo)
with the VIP on loopback, arp_ignore=1 and arp_announce=2. No static ARP anywhere:
the client finds the VIP by ARP and drfwd finds the real servers by ARP.

  tools/lab.py up [--two-port] [--prefix P]    build it and start drfwd
  tools/lab.py demo                             up, show fail-over with curl, down
  tools/lab.py status                           namespaces, processes, drfwd's counters
  tools/lab.py down                             stop what the lab started, delete it

Addresses (198.18.0.0/15 only):
  one-port  client 198.18.0.1, DIP 198.18.0.2, RS1 198.18.0.11, RS2 198.18.0.12,
            VIP 198.18.0.100 (tcp 80 rr, udp 5353 rr)
  two-port  client link 198.18.0.0/24 (DIP 198.18.0.2), server link 198.18.1.0/24
            (DIP 198.18.1.2, RS1 .11, RS2 .12), a router .254 on both links carries
            the real servers' replies straight to the client.

Everything is created inside namespaces named PREFIX-*, and only processes the lab
started (by PID) are stopped.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = "/usr/bin/python3"
VIP = "198.18.0.100"
STATE_DIR = "/run/drfwd-lab"


def sh(*cmd, check=True, capture=False, ns=None, timeout=30):
    if ns:
        cmd = ("ip", "netns", "exec", ns) + tuple(cmd)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd), (r.stderr or r.stdout).strip()))
    return r.stdout if capture else r


class Lab:
    def __init__(self, prefix="drfwd", two_port=False, workdir=None, drfwd=None, log=print, drfwd_args=(),
                 console=False, nginx_extra=None):
        """drfwd_args: more drfwd options; console: run drfwd with -i on a pipe (see
        console()); nginx_extra: role -> extra nginx config inside the server block."""
        self.prefix = prefix
        self.two_port = two_port
        self.dir = workdir or tempfile.mkdtemp(prefix="drfwd-lab-")
        os.chmod(self.dir, 0o755)
        self.drfwd = drfwd or os.path.join(TOP, "build", "app", "drfwd")
        self.log = log
        self.pids = {}          # role -> PID of a process the lab started
        self.drfwd_args = list(drfwd_args)
        self.use_console = console
        self.nginx_extra = dict(nginx_extra or {})
        self.namespaces = []
        self.rs = {"rs1": "198.18.0.11", "rs2": "198.18.0.12"} if not two_port else \
            {"rs1": "198.18.1.11", "rs2": "198.18.1.12"}

    # ---- names ---------------------------------------------------------------------
    def ns(self, role):
        return "%s-%s" % (self.prefix, role)

    def state_file(self):
        return os.path.join(STATE_DIR, self.prefix + ".json")

    # ---- building ------------------------------------------------------------------
    def add_ns(self, role):
        name = self.ns(role)
        sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        for key in ("all", "default"):
            sh("sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % key, ns=name)
        return name

    def cable(self, switch, port_name, host_role, host_if="eth0"):
        """A veth from switch `switch` (its bridge port `port_name`) to `host_role`."""
        sw, host = self.ns(switch), self.ns(host_role)
        sh("ip", "-n", sw, "link", "add", port_name, "type", "veth", "peer", "name", host_if, "netns", host)
        sh("ip", "-n", sw, "link", "set", port_name, "master", "br0", "up")
        sh("ip", "-n", host, "link", "set", host_if, "up")
        # Offloads off on both ends: partial checksums would reach the real servers.
        sh("ethtool", "-K", port_name, "tx", "off", "rx", "off", ns=sw)
        sh("ethtool", "-K", host_if, "tx", "off", "rx", "off", ns=host)

    def switch(self, role):
        name = self.add_ns(role)
        sh("ip", "-n", name, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", name, "link", "set", "br0", "up")

    def real_server(self, role, rip, prefix_len, gateway=None):
        name = self.ns(role)
        sh("ip", "-n", name, "addr", "add", "%s/%d" % (rip, prefix_len), "dev", "eth0")
        sh("ip", "-n", name, "addr", "add", VIP + "/32", "dev", "lo")
        for conf in ("all", "eth0"):
            sh("sysctl", "-qw", "net.ipv4.conf.%s.arp_ignore=1" % conf, ns=name)
            sh("sysctl", "-qw", "net.ipv4.conf.%s.arp_announce=2" % conf, ns=name)
        if gateway:
            sh("ip", "-n", name, "route", "add", "default", "via", gateway)

    def up(self):
        try:
            self._build()
        except BaseException:
            self.down()
            raise

    def _build(self):
        os.makedirs(STATE_DIR, exist_ok=True)
        for role in ("client", "lb", "rs1", "rs2"):
            self.add_ns(role)
        self.save()
        if not self.two_port:
            self.switch("sw")
            self.cable("sw", "c0", "client")
            self.cable("sw", "lb0", "lb")
            self.cable("sw", "r1", "rs1")
            self.cable("sw", "r2", "rs2")
            sh("ip", "-n", self.ns("client"), "addr", "add", "198.18.0.1/24", "dev", "eth0")
            self.real_server("rs1", self.rs["rs1"], 24)
            self.real_server("rs2", self.rs["rs2"], 24)
            ifaces = ["eth0"]
            conf = "port 0 address 198.18.0.2/24\n"
        else:
            self.switch("swa")
            self.switch("swb")
            self.add_ns("rt")
            self.cable("swa", "c0", "client")
            self.cable("swa", "lb0", "lb", "eth0")
            self.cable("swa", "rt0", "rt", "eth0")
            self.cable("swb", "lb1", "lb", "eth1")
            self.cable("swb", "rt1", "rt", "eth1")
            self.cable("swb", "r1", "rs1")
            self.cable("swb", "r2", "rs2")
            sh("ip", "-n", self.ns("client"), "addr", "add", "198.18.0.1/24", "dev", "eth0")
            rt = self.ns("rt")
            sh("ip", "-n", rt, "addr", "add", "198.18.0.254/24", "dev", "eth0")
            sh("ip", "-n", rt, "addr", "add", "198.18.1.254/24", "dev", "eth1")
            sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=rt)
            for conf_if in ("all", "default", "eth0", "eth1"):
                sh("sysctl", "-qw", "net.ipv4.conf.%s.rp_filter=0" % conf_if, ns=rt)
            self.real_server("rs1", self.rs["rs1"], 24, gateway="198.18.1.254")
            self.real_server("rs2", self.rs["rs2"], 24, gateway="198.18.1.254")
            ifaces = ["eth0", "eth1"]
            conf = "port 0 address 198.18.0.2/24\nport 1 address 198.18.1.2/24\n"
        # The kernel of the director must leave drfwd's veths alone: AF_PACKET only taps
        # them, and Linux would otherwise answer ARP and IP for the DIP (which lives on
        # drfwd's kernel interface) on them too, twice over.
        lb = self.ns("lb")
        for iface in ifaces:
            sh("sysctl", "-qw", "net.ipv4.conf.%s.arp_ignore=8" % iface, ns=lb)
            sh("sysctl", "-qw", "net.ipv4.conf.%s.rp_filter=1" % iface, ns=lb)
        for role in ("rs1", "rs2"):
            self.start_nginx(role)
            self.start_udp_echo(role)
        conf += ("# the ipvsadm lines an LVS operator would write\n"
                 "ipvsadm -A -t {vip}:80 -s rr\n"
                 "ipvsadm -a -t {vip}:80 -r {rs1}:80 -g\n"
                 "ipvsadm -a -t {vip}:80 -r {rs2}:80 -g\n"
                 "ipvsadm -A -u {vip}:5353 -s rr\n"
                 "ipvsadm -a -u {vip}:5353 -r {rs1}:5353 -g\n"
                 "ipvsadm -a -u {vip}:5353 -r {rs2}:5353 -g\n").format(vip=VIP, **self.rs)
        self.config = os.path.join(self.dir, "drfwd.conf")
        with open(self.config, "w") as f:
            f.write(conf)
        self.start_drfwd(ifaces)
        self.save()
        self.wait_ready()

    # ---- processes -----------------------------------------------------------------
    def start_nginx(self, role):
        d = os.path.join(self.dir, role)
        www = os.path.join(d, "www")
        os.makedirs(www, exist_ok=True)
        os.chmod(d, 0o755)
        os.chmod(www, 0o755)
        with open(os.path.join(www, "index.html"), "w") as f:
            f.write(role.upper() + "\n")
        os.chmod(os.path.join(www, "index.html"), 0o644)
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write("""worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  default_type text/plain;
  client_body_temp_path {d}/body;
  server {{
    listen 80 reuseport;
    root {www};
    location / {{ }}
    {extra}
  }}
}}
""".format(d=d, www=www, extra=self.nginx_extra.get(role, "")))
        pidfile = os.path.join(d, "nginx.pid")
        if os.path.exists(pidfile):
            os.unlink(pidfile)
        sh("nginx", "-c", conf, ns=self.ns(role))
        for _ in range(50):
            if os.path.exists(pidfile) and open(pidfile).read().strip():
                break
            time.sleep(0.05)
        self.pids[role + "-nginx"] = int(open(pidfile).read().strip())
        self.save()

    def stop_nginx(self, role):
        self.stop(role + "-nginx")

    def start_udp_echo(self, role):
        p = subprocess.Popen(["ip", "netns", "exec", self.ns(role), PY, os.path.join(TOP, "tools", "udp_echo.py"),
                              role.upper(), VIP, "5353"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
        self.pids[role + "-udp"] = p.pid

    @property
    def socket(self):
        return os.path.join(self.dir, "ctl", "drfwd.sock")

    def ctl(self, *words, check=False):
        """Runs drfwdctl against the lab's drfwd; returns the CompletedProcess."""
        tool = os.path.normpath(os.path.join(os.path.dirname(self.drfwd), "drfwdctl"))
        r = subprocess.run([tool, "-s", self.socket] + list(words), capture_output=True, text=True, timeout=30)
        if check and r.returncode != 0:
            raise RuntimeError("drfwdctl %s: %s" % (" ".join(words), r.stderr))
        return r

    def start_drfwd(self, ifaces):
        vdevs = []
        for i, name in enumerate(ifaces):
            vdevs += ["--vdev", "net_af_packet%d,iface=%s,qpairs=1,blocksz=4096,framesz=2048,framecnt=512" % (i, name)]
        self.stats_json = os.path.join(self.dir, "drfwd-stats.json")
        cmd = ["ip", "netns", "exec", self.ns("lb"), self.drfwd, "-l", "0,1", "--no-huge", "-m", "512", "--no-pci",
               "--no-shconf", "--log-level", "lib.eal:warning"] + vdevs + \
              ["--", "-f", self.config, "--idle-backoff", "100", "--conn-table-size", "65536",
               "--stats-json", self.stats_json, "--socket", self.socket] + self.drfwd_args
        if self.use_console:
            cmd.append("-i")
        self.drfwd_log = os.path.join(self.dir, "drfwd.log")
        out = open(self.drfwd_log, "w")
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                             stdin=subprocess.PIPE if self.use_console else subprocess.DEVNULL)
        self.pids["drfwd"] = p.pid
        self._drfwd_proc = p

    def stop(self, role, sig=signal.SIGTERM, wait=10):
        pid = self.pids.pop(role, None)
        if not pid:
            return
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.time() + wait
        while time.time() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            try:  # reap our own children
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    break
            except ChildProcessError:
                pass
            time.sleep(0.05)
        else:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.save()

    def console(self, line):
        """Types a line at drfwd's console (lab built with console=True); the answer goes
        to drfwd's log."""
        self._drfwd_proc.stdin.write((line + "\n").encode())
        self._drfwd_proc.stdin.flush()

    def stop_drfwd(self):
        """SIGINT, as an operator would; returns drfwd's exit status when the lab started it."""
        proc = getattr(self, "_drfwd_proc", None)
        self.stop("drfwd", sig=signal.SIGINT, wait=20)
        return proc.wait(timeout=5) if proc else None

    # ---- using it ------------------------------------------------------------------
    def run(self, role, *cmd, check=False, timeout=30):
        return sh(*cmd, ns=self.ns(role), check=check, timeout=timeout)

    def curl(self, url="http://%s/" % VIP, timeout=2):
        r = self.run("client", "curl", "-s", "--max-time", str(timeout), url)
        return r.stdout.strip() if r.returncode == 0 else None

    def wait_ready(self, timeout=20):
        """Until both real servers answer through the VIP."""
        seen = set()
        deadline = time.time() + timeout
        while time.time() < deadline and seen != {"RS1", "RS2"}:
            r = self.curl(timeout=1)
            if r:
                seen.add(r)
            else:
                time.sleep(0.2)
        if seen != {"RS1", "RS2"}:
            raise RuntimeError("lab not ready after %ds (answers seen: %s); drfwd log:\n%s" %
                               (timeout, sorted(seen), self.tail_log()))

    def tail_log(self, n=40):
        try:
            with open(self.drfwd_log) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"

    # ---- state across invocations ----------------------------------------------------
    def save(self):
        os.makedirs(STATE_DIR, exist_ok=True)
        with open(self.state_file(), "w") as f:
            json.dump({"prefix": self.prefix, "two_port": self.two_port, "dir": self.dir, "pids": self.pids,
                       "namespaces": self.namespaces}, f)

    @classmethod
    def load(cls, prefix):
        with open(os.path.join(STATE_DIR, prefix + ".json")) as f:
            s = json.load(f)
        lab = cls(prefix=s["prefix"], two_port=s["two_port"], workdir=s["dir"])
        lab.pids = {k: int(v) for k, v in s["pids"].items()}
        lab.namespaces = s["namespaces"]
        lab.config = os.path.join(lab.dir, "drfwd.conf")
        lab.drfwd_log = os.path.join(lab.dir, "drfwd.log")
        lab.stats_json = os.path.join(lab.dir, "drfwd-stats.json")
        return lab

    def down(self):
        if "drfwd" in self.pids:
            self.stop_drfwd()
        for role in list(self.pids):
            self.stop(role)
        for name in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        self.namespaces = []
        try:
            os.unlink(self.state_file())
        except OSError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        self.up()
        return self

    def __exit__(self, *exc):
        self.down()


# ---- command line ------------------------------------------------------------------------

def demo(args):
    lab = Lab(prefix=args.prefix, two_port=args.two_port)
    print("== building the lab (namespaces %s-*) and starting drfwd" % args.prefix, flush=True)
    try:
        lab.up()
        print("== drfwd's configuration:")
        print("".join("   " + line for line in open(lab.config)), flush=True)

        def requests(n, title):
            print("== %s" % title, flush=True)
            answers = [lab.curl() or "(no answer)" for _ in range(n)]
            print("   " + " ".join(answers), flush=True)
            return answers

        requests(10, "10 requests from the client to http://%s/ (round robin)" % VIP)
        print("== stopping nginx on RS2", flush=True)
        lab.stop_nginx("rs2")
        time.sleep(2.5)
        requests(10, "10 requests after the detection window: every answer from RS1")
        print("== starting nginx on RS2 again", flush=True)
        lab.start_nginx("rs2")
        time.sleep(3)
        requests(10, "10 requests after the recovery window: round robin again")
        print("== drfwd's log (health changes)")
        print("".join("   " + l for l in lab.tail_log(200).splitlines(True) if "health" in l), flush=True)
    finally:
        print("== tearing the lab down", flush=True)
        lab.down()


def status(args):
    try:
        lab = Lab.load(args.prefix)
    except OSError:
        print("no lab %r is up" % args.prefix)
        return 1
    print("namespaces: " + " ".join(lab.namespaces))
    for role, pid in lab.pids.items():
        alive = os.path.exists("/proc/%d" % pid)
        print("  %-10s pid %-7d %s" % (role, pid, "running" if alive else "gone"))
    print("last lines of drfwd's log:\n" + lab.tail_log(10))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=("up", "demo", "status", "down"))
    ap.add_argument("--prefix", default="drfwd")
    ap.add_argument("--two-port", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("lab: run as root (network namespaces)")
    if args.action == "up":
        lab = Lab(prefix=args.prefix, two_port=args.two_port)
        lab.up()
        print("lab %s is up: try  ip netns exec %s curl http://%s/" % (args.prefix, lab.ns("client"), VIP))
        return 0
    if args.action == "demo":
        demo(args)
        return 0
    if args.action == "status":
        return status(args)
    try:
        Lab.load(args.prefix).down()
    except OSError:
        print("no lab %r is up" % args.prefix)
    return 0


if __name__ == "__main__":
    sys.exit(main())
