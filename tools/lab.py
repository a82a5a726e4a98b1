#!/usr/bin/env python3
"""The LVS-DR lab in network namespaces: a client, a switch (Linux bridge), drfwd as
the director on an af_packet port, and real servers running nginx (and a UDP echo)
with the VIP on loopback, arp_ignore=1 and arp_announce=2. No static ARP anywhere:
the client finds the VIP by ARP and drfwd finds the real servers by ARP.

  tools/lab.py up [--two-port] [--prefix P]    build it and start drfwd
  tools/lab.py up --vrrp                        two directors, keepalived VRRP on drfwd0
  tools/lab.py up --ecmp [N]                    a router (BIRD, BGP + BFD, ECMP), N directors
                                                (default 2), each with BIRD on drfwd0
  tools/lab.py up --vrrp|--ecmp [N] --sync      the same with connection sync (SyncLab)
  tools/lab.py up --vlan                        drfwd's port as an 802.1Q trunk (VlanLab)
  tools/lab.py up --ipv6                        the one-port lab dual-stack (Ipv6Lab)
  tools/lab.py up --keepalived                  the one-port lab from a keepalived.conf (KeepalivedLab)
  tools/lab.py demo [--two-port|--vrrp|--ecmp [N]|--vlan|--ipv6|--keepalived] [--sync]  up, show fail-over, down
  tools/lab.py status                           namespaces, processes, drfwd's log
  tools/lab.py down                             stop what the lab started, delete it

Addresses (198.18.0.0/15 only; the IPv6 lab 2001:2::/48 too, IPv6's benchmarking range):
  one-port  client 198.18.0.1, DIP 198.18.0.2, RS1 198.18.0.11, RS2 198.18.0.12,
            VIP 198.18.0.100 (tcp 80 rr, udp 5353 rr)
  two-port  client link 198.18.0.0/24 (DIP 198.18.0.2), server link 198.18.1.0/24
            (DIP 198.18.1.2, RS1 .11, RS2 .12), a router .254 on both links carries
            the real servers' replies straight to the client.
  vrrp      as one-port with two directors, DIPs 198.18.0.2 (lb1, VRRP priority 150)
            and 198.18.0.3 (lb2, 100); keepalived moves the VIP 198.18.0.100 between
            their drfwd0 interfaces.
  ecmp      client 198.18.2.1 on its own link to the router (198.18.2.254); the
            router's other link (198.18.0.254) is the switch with directors lbI at
            198.18.0.(1+I) and RS1 .11, RS2 .12, whose replies go back through the
            router. VIP 198.19.0.100 is on no link: the router reaches it only by the
            BGP routes the directors announce (ECMP over their DIPs).
  vlan      one drfwd port as a trunk (VLANs 10, 20, 30 tagged): client 198.18.10.1 on
            VLAN 10 (DIP 198.18.10.2 on drfwd0.10), RS1 198.18.20.11 and RS2 .12 on
            VLAN 20 (DIP 198.18.20.2 on drfwd0.20), VIP 198.18.10.100 (tcp 80 rr, HTTP
            check); a router (.254 on VLANs 10 and 20) carries the replies; a stranger
            198.18.30.1 on VLAN 30, which drfwd has no interface for.
  ipv6      one-port plus IPv6 on the same segment: client 2001:2::1, DIP 2001:2::2
            (drfwd0), RS1 2001:2::11, RS2 2001:2::12, VIP 2001:2::100 (tcp 80 rr, HTTP
            check) on the RSs' lo; no DAD, no static neighbour.
  keepalived  one-port, its services from docs/examples/keepalived.conf (tcp 80 wlc,
            HTTP_GET) and a sorry server 198.18.0.19 answering while RS1 and RS2 are down.
  The redundancy labs add echo services for long-lived connections (tools/tcp_echo.py,
  tools/longlived.py): tcp 7 mh and tcp 8 sh. With --sync the directors also
  synchronise their connections (sync start master and backup) and the echo services
  are tcp 7 rr and tcp 8 rr with persistence (-p 300) instead.

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
ECMP_VIP = "198.19.0.100"
STATE_DIR = "/run/drfwd-lab"
ECHO_SERVICES = ((7, "mh"), (8, "sh"))  # the redundancy labs' echo services: port, scheduler
VIP_TABLE = 100                          # the ECMP lab's directors publish VIP routes there
VIP_ROUTE_PROTO = 245                    # the routes' protocol: BIRD's `learn` skips `kernel`
ROUTER_AS, DIRECTOR_AS = 65000, 65001


def sh(*cmd, check=True, capture=False, ns=None, timeout=30):
    if ns:
        cmd = ("ip", "netns", "exec", ns) + tuple(cmd)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd), (r.stderr or r.stdout).strip()))
    return r.stdout if capture else r


def wait_for(pred, timeout, step=0.05):
    """pred() until it is true or timeout seconds passed; returns its last value."""
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v or time.time() >= deadline:
            return v
        time.sleep(step)


class Drfwd:
    """One drfwd process of a lab: the namespace of its role, its files (configuration,
    log, control socket, JSON counters), its EAL file prefix and the key of its PID in
    the lab's state. Starting it again appends to the same log."""

    def __init__(self, lab, role, home, key, file_prefix=None):
        self.lab, self.role, self.key, self.file_prefix = lab, role, key, file_prefix
        self.home = home
        self.config = os.path.join(home, "drfwd.conf")
        self.log = os.path.join(home, "drfwd.log")
        self.stats_json = os.path.join(home, "drfwd-stats.json")
        self.socket = os.path.join(home, "ctl", "drfwd.sock")
        self.proc = None

    def start(self, ifaces, args=(), console=False):
        """Starts drfwd (again: a previous one is SIGKILLed and reaped first, its TAP must
        be gone before the new one can take the name)."""
        if self.running:
            self.stop(signal.SIGKILL)
        vdevs = []
        for i, name in enumerate(ifaces):
            vdevs += ["--vdev", "net_af_packet%d,iface=%s,qpairs=1,blocksz=4096,framesz=2048,framecnt=512" % (i, name)]
        eal = ["-l", "0,1", "--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--log-level", "lib.eal:warning"]
        if self.file_prefix:
            eal += ["--file-prefix", self.file_prefix]
        # The lab's defaults, unless args name the option (drfwd takes each only once).
        defaults = [opt for name, value in (("--idle-backoff", "100"), ("--conn-table-size", "65536"))
                    if name not in args for opt in (name, value)]
        cmd = ["ip", "netns", "exec", self.lab.ns(self.role), self.lab.drfwd] + eal + vdevs + \
              ["--", "-f", self.config] + defaults + \
              ["--stats-json", self.stats_json, "--socket", self.socket] + list(args)
        if console:
            cmd.append("-i")
        with open(self.log, "a") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                         stdin=subprocess.PIPE if console else subprocess.DEVNULL)
        self.lab.pids[self.key] = self.proc.pid
        self.lab.save()

    @property
    def running(self):
        return self.key in self.lab.pids

    def ctl(self, *words, check=False):
        """Runs drfwdctl against this drfwd; returns the CompletedProcess."""
        tool = os.path.normpath(os.path.join(os.path.dirname(self.lab.drfwd), "drfwdctl"))
        r = subprocess.run([tool, "-s", self.socket] + list(words), capture_output=True, text=True, timeout=30)
        if check and r.returncode != 0:
            raise RuntimeError("drfwdctl %s: %s" % (" ".join(words), r.stderr))
        return r

    def stop(self, sig=signal.SIGINT, wait=20):
        """Signals drfwd and waits for it; returns its exit status when this process
        started it (negative: the signal that ended it), else None."""
        proc, self.proc = self.proc, None
        if proc is None or self.lab.pids.get(self.key) != proc.pid:
            self.lab.stop(self.key, sig=sig, wait=wait)
            return None
        self.lab.pids.pop(self.key)
        try:
            proc.send_signal(sig)
            rc = proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait(timeout=5)
        self.lab.save()
        return rc

    def kill(self, sig=signal.SIGKILL):
        """Sends sig and returns at once (stop() or start() reaps the process later)."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(sig)
        elif self.running:
            try:
                os.kill(self.lab.pids[self.key], sig)
            except ProcessLookupError:
                pass

    def console(self, line):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def tail_log(self, n=40):
        try:
            with open(self.log) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"


class Lab:
    kind = "plain"

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
        self.vip = VIP
        self.rs = {"rs1": "198.18.0.11", "rs2": "198.18.0.12"} if not two_port else \
            {"rs1": "198.18.1.11", "rs2": "198.18.1.12"}
        self.lb = Drfwd(self, "lb", self.dir, "drfwd")

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

    def cable(self, switch, port_name, host_role, host_if="eth0", bridge="br0"):
        """A veth from switch `switch` (its bridge port `port_name` on `bridge`; None: no
        bridge, the switch's end stays free) to `host_role`."""
        sw, host = self.ns(switch), self.ns(host_role)
        sh("ip", "-n", sw, "link", "add", port_name, "type", "veth", "peer", "name", host_if, "netns", host)
        sh("ip", "-n", sw, "link", "set", port_name, *(("master", bridge) if bridge else ()), "up")
        sh("ip", "-n", host, "link", "set", host_if, "up")
        # Offloads off on both ends: partial checksums would reach the real servers.
        sh("ethtool", "-K", port_name, "tx", "off", "rx", "off", ns=sw)
        sh("ethtool", "-K", host_if, "tx", "off", "rx", "off", ns=host)

    def switch(self, role, bridges=("br0",)):
        """A switch: a namespace with Linux bridges (one per VLAN in the VLAN lab)."""
        name = self.add_ns(role)
        for br in bridges:
            sh("ip", "-n", name, "link", "add", br, "type", "bridge")
            sh("ip", "-n", name, "link", "set", br, "up")

    def real_server(self, role, rip, prefix_len, gateway=None):
        name = self.ns(role)
        sh("ip", "-n", name, "addr", "add", "%s/%d" % (rip, prefix_len), "dev", "eth0")
        sh("ip", "-n", name, "addr", "add", self.vip + "/32", "dev", "lo")
        for conf in ("all", "eth0"):
            sh("sysctl", "-qw", "net.ipv4.conf.%s.arp_ignore=1" % conf, ns=name)
            sh("sysctl", "-qw", "net.ipv4.conf.%s.arp_announce=2" % conf, ns=name)
        if gateway:
            sh("ip", "-n", name, "route", "add", "default", "via", gateway)

    def director_ns(self, role, ifaces):
        """The kernel of a director must leave drfwd's veths alone: AF_PACKET only taps
        them, and Linux would otherwise answer ARP and IP for the DIP (which lives on
        drfwd's kernel interface) on them too, twice over."""
        for iface in ifaces:
            sh("sysctl", "-qw", "net.ipv4.conf.%s.arp_ignore=8" % iface, ns=self.ns(role))
            sh("sysctl", "-qw", "net.ipv4.conf.%s.rp_filter=1" % iface, ns=self.ns(role))

    def services(self):
        """The ipvsadm lines an LVS operator would write."""
        return ("# the ipvsadm lines an LVS operator would write\n"
                "ipvsadm -A -t {vip}:80 -s rr\n"
                "ipvsadm -a -t {vip}:80 -r {rs1}:80 -g\n"
                "ipvsadm -a -t {vip}:80 -r {rs2}:80 -g\n"
                "ipvsadm -A -u {vip}:5353 -s rr\n"
                "ipvsadm -a -u {vip}:5353 -r {rs1}:5353 -g\n"
                "ipvsadm -a -u {vip}:5353 -r {rs2}:5353 -g\n").format(vip=self.vip, **self.rs)

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
            self.address_client()
            self.real_server("rs1", self.rs["rs1"], 24)
            self.real_server("rs2", self.rs["rs2"], 24)
            ifaces = ["eth0"]
            conf = self.port_lines()
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
            self.router_sysctls()
            self.real_server("rs1", self.rs["rs1"], 24, gateway="198.18.1.254")
            self.real_server("rs2", self.rs["rs2"], 24, gateway="198.18.1.254")
            ifaces = ["eth0", "eth1"]
            conf = "port 0 address 198.18.0.2/24\nport 1 address 198.18.1.2/24\n"
        self.director_ns("lb", ifaces)
        for role in ("rs1", "rs2"):
            self.start_nginx(role)
            self.start_udp_echo(role)
        with open(self.config, "w") as f:
            f.write(conf + self.services())
        self.start_drfwd(ifaces)
        self.save()
        self.wait_ready()

    def address_client(self):
        """The one-port lab's client address."""
        sh("ip", "-n", self.ns("client"), "addr", "add", "198.18.0.1/24", "dev", "eth0")

    def port_lines(self):
        """The one-port lab's drfwd port lines (its DIP)."""
        return "port 0 address 198.18.0.2/24\n"

    def router_sysctls(self, extra=()):
        rt = self.ns("rt")
        sh("sysctl", "-qw", "net.ipv4.ip_forward=1", *extra, ns=rt)
        for conf_if in ("all", "default", "eth0", "eth1"):
            sh("sysctl", "-qw", "net.ipv4.conf.%s.rp_filter=0" % conf_if, ns=rt)

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

    def spawn(self, key, role, cmd, log=None):
        """Starts cmd in role's namespace as a process of the lab (PID under key)."""
        out = open(log, "a") if log else subprocess.DEVNULL
        try:
            p = subprocess.Popen(["ip", "netns", "exec", self.ns(role)] + list(cmd), stdout=out,
                                 stderr=subprocess.STDOUT if log else subprocess.DEVNULL, start_new_session=True)
        finally:
            if log:
                out.close()
        self.pids[key] = p.pid
        self.save()
        return p

    def start_prometheus(self, role, targets, listen="127.0.0.1:9090", interval="1s"):
        """A Prometheus server in role's namespace scraping `targets` (ADDR:PORT of drfwd
        --metrics) every `interval`, its TSDB in the lab's directory; a process of the lab
        (stopped by its PID with the others). Returns its base URL."""
        d = os.path.join(self.dir, role + "-prometheus")
        os.makedirs(d, exist_ok=True)
        conf = os.path.join(d, "prometheus.yml")
        with open(conf, "w") as f:
            f.write("global:\n  scrape_interval: %s\n  scrape_timeout: %s\n"
                    "scrape_configs:\n  - job_name: drfwd\n    static_configs:\n      - targets: [%s]\n"
                    % (interval, interval, ", ".join('"%s"' % t for t in targets)))
        self.spawn(role + "-prometheus", role,
                   ["prometheus", "--config.file=" + conf, "--storage.tsdb.path=" + os.path.join(d, "data"),
                    "--web.listen-address=" + listen, "--log.level=warn"], log=os.path.join(d, "prometheus.log"))
        return "http://" + listen

    def prometheus_query(self, role, url, query):
        """The result list of an instant query to the Prometheus at url (in role's
        namespace); None while it does not answer."""
        r = self.run(role, "curl", "-s", "--max-time", "2", "-G", url + "/api/v1/query",
                     "--data-urlencode", "query=" + query)
        try:
            doc = json.loads(r.stdout)
        except ValueError:
            return None
        return doc["data"]["result"] if doc.get("status") == "success" else None

    def start_udp_echo(self, role):
        self.spawn(role + "-udp", role, [PY, os.path.join(TOP, "tools", "udp_echo.py"), role.upper(), self.vip, "5353"])

    # The files of the plain lab's drfwd, under the names its tests use.
    socket = property(lambda self: self.lb.socket)
    config = property(lambda self: self.lb.config)
    drfwd_log = property(lambda self: self.lb.log)
    stats_json = property(lambda self: self.lb.stats_json)

    def ctl(self, *words, check=False):
        """Runs drfwdctl against the lab's drfwd; returns the CompletedProcess."""
        return self.lb.ctl(*words, check=check)

    def start_drfwd(self, ifaces):
        self.lb.start(ifaces, self.drfwd_args, console=self.use_console)

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
        self.lb.console(line)

    def stop_drfwd(self):
        """SIGINT, as an operator would; returns drfwd's exit status when the lab started it."""
        return self.lb.stop()

    # ---- using it ------------------------------------------------------------------
    def run(self, role, *cmd, check=False, timeout=30):
        return sh(*cmd, ns=self.ns(role), check=check, timeout=timeout)

    def curl(self, url=None, timeout=2):
        r = self.run("client", "curl", "-s", "--max-time", str(timeout), url or "http://%s/" % self.vip)
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
        return self.lb.tail_log(n)

    # ---- state across invocations ----------------------------------------------------
    def state(self):
        return {"kind": self.kind, "prefix": self.prefix, "two_port": self.two_port, "dir": self.dir,
                "pids": self.pids, "namespaces": self.namespaces}

    def save(self):
        os.makedirs(STATE_DIR, exist_ok=True)
        with open(self.state_file(), "w") as f:
            json.dump(self.state(), f)

    @staticmethod
    def load(prefix):
        """The lab of that prefix, as saved by the `up` that built it (any kind)."""
        with open(os.path.join(STATE_DIR, prefix + ".json")) as f:
            s = json.load(f)
        kind = s.get("kind", "plain")
        if kind == "plain":
            lab = Lab(prefix=s["prefix"], two_port=s["two_port"], workdir=s["dir"])
        else:
            more = {"directors": s["directors"]} if "directors" in s else {}
            lab = LABS[kind](prefix=s["prefix"], workdir=s["dir"], **more)
        lab.pids = {k: int(v) for k, v in s["pids"].items()}
        lab.namespaces = s["namespaces"]
        return lab

    def stop_all(self):
        if "drfwd" in self.pids:
            self.stop_drfwd()
        for role in list(self.pids):
            self.stop(role)

    def down(self):
        self.stop_all()
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


# ---- director redundancy: several directors -------------------------------------------

class DirectorsLab(Lab):
    """The base of the redundancy labs: directors lb1..lbN on one switch, each drfwd in
    its own namespace (its own EAL --file-prefix and control socket; port 0 on its eth0,
    DIP 198.18.0.(1+I) on drfwd0) next to a routing daemon on drfwd0; real servers with
    nginx, the UDP echo and the line echo (tools/tcp_echo.py) on the echo ports."""

    def __init__(self, directors=2, **kw):
        super().__init__(**kw)
        self.lb = None
        self.directors = {}
        for i in range(1, directors + 1):
            self.add_director_object("lb%d" % i)
        self.marks = {}  # what happened when, for the report of `up` (seconds since start)

    def add_director_object(self, role):
        self.directors[role] = Drfwd(self, role, os.path.join(self.dir, role), role + "-drfwd",
                                     file_prefix="%s-%s" % (self.prefix, role))
        return self.directors[role]

    def d(self, role):
        """The Drfwd of a director: d("lb1").ctl("show", "rs")."""
        return self.directors[role]

    @staticmethod
    def dip(role):
        return "198.18.0.%d" % (1 + int(role[2:]))

    def state(self):
        s = super().state()
        s["directors"] = len(self.directors)
        return s

    def mark(self, what):
        self.marks[what] = round(time.time() - self.t0, 2)

    # ---- building ------------------------------------------------------------------
    def common_build(self):
        os.makedirs(STATE_DIR, exist_ok=True)
        self.t0 = time.time()
        self.switch("sw")
        for role in ["client", "rs1", "rs2"] + list(self.directors):
            self.add_ns(role)
        self.save()
        for role in self.directors:
            self.director_link(role)
        self.cable("sw", "r1", "rs1")
        self.cable("sw", "r2", "rs2")

    def director_link(self, role):
        self.cable("sw", "p" + role, role)
        self.director_ns(role, ["eth0"])
        os.makedirs(os.path.join(self.dir, role, "ctl"), exist_ok=True)

    def start_servers(self, gateway=None):
        for role in ("rs1", "rs2"):
            self.real_server(role, self.rs[role], 24, gateway=gateway)
            self.start_nginx(role)
            self.start_udp_echo(role)
            self.spawn(role + "-echo", role, [PY, os.path.join(TOP, "tools", "tcp_echo.py"), role.upper()] +
                       [str(port) for port, _ in self.echo_services])

    # The echo services: port, scheduler and its options (ipvsadm's words after -s).
    echo_services = ECHO_SERVICES

    def services(self):
        lines = super().services()
        for port, sched in self.echo_services:
            lines += "ipvsadm -A -t %s:%d -s %s\n" % (self.vip, port, sched)
            for role in ("rs1", "rs2"):
                lines += "ipvsadm -a -t %s:%d -r %s:%d -g\n" % (self.vip, port, self.rs[role], port)
        return lines

    def mode_lines(self):
        """drfwd's redundancy settings for this lab."""
        return ""

    def start_director(self, role, wait=True):
        """Starts drfwd on a director (again). wait: until drfwd0 has the DIP."""
        d = self.directors[role]
        with open(d.config, "w") as f:
            f.write("port 0 address %s/24\n" % self.dip(role) + self.mode_lines() + self.services())
        d.start(["eth0"], self.drfwd_args)
        if not wait:
            return
        def up():
            return self.dip(role) in self.addresses(role)
        wait_for(lambda: d.proc.poll() is not None or up(), 15)
        if d.proc.poll() is not None or not up():
            raise RuntimeError("%s: drfwd exited or drfwd0 has no DIP after 15 s; drfwd log:\n%s" % (role, d.tail_log()))

    def addresses(self, role, dev="drfwd0"):
        """The IPv4 addresses of an interface of a director ([] while it does not exist)."""
        r = self.run(role, "ip", "-j", "-4", "addr", "show", "dev", dev)
        if r.returncode != 0 or not r.stdout.strip():
            return []
        return [a["local"] for link in json.loads(r.stdout) for a in link.get("addr_info", [])]

    def kill_drfwd(self, role, sig=signal.SIGKILL, wait=True):
        """A director's drfwd dies (SIGKILL by default): its TAP vanishes, and with it the
        DIP, the VIP (VRRP) and the VIP routes (ECMP). wait: until the process is gone
        (a SIGKILLed drfwd takes about 1.4 s to exit here); else only the signal is sent,
        and stop() or the next start reaps it."""
        d = self.directors[role]
        if not wait:
            return d.kill(sig)
        return d.stop(sig=sig, wait=10)

    def packets(self, role, port):
        """Packets this director's drfwd has forwarded to the real servers of VIP:port
        (the PACKETS column of its `show rs`; None if it does not answer)."""
        r = self.directors[role].ctl("show", "rs", self.vip)
        if r.returncode != 0:
            return None
        total, inside = 0, False
        for line in r.stdout.splitlines():
            w = line.split()
            if line and not line.startswith(" "):
                inside = len(w) > 1 and w[1] == "%s:%d" % (self.vip, port)
            elif inside and w and w[0] in self.rs.values():
                total += int(w[7])
        return total

    def announced(self, role, port=7):
        """How this director announces VIP:port (the ANNOUNCED column of its `show vips`:
        arp, route, arp,route or no; None if drfwd does not answer)."""
        r = self.directors[role].ctl("show", "vips")
        for line in r.stdout.splitlines() if r.returncode == 0 else []:
            w = line.split()
            if w[:1] == ["%s:%d" % (self.vip, port)]:
                return w[5]
        return None

    def echo_ok(self, port=7):
        """One line through VIP:port answered by a real server."""
        code = ("import socket,sys\ns=socket.create_connection((sys.argv[1],int(sys.argv[2])),1)\n"
                "s.settimeout(1)\ns.sendall(b'x 0\\n')\nprint(s.recv(100).decode().split()[0])\n")
        r = self.run("client", PY, "-c", code, self.vip, str(port), timeout=5)
        return r.stdout.strip() if r.returncode == 0 else None

    def wait_traffic(self, timeout=20):
        """Until both real servers answer http through the VIP, and the echo answers."""
        t0 = time.time()
        self.wait_ready(timeout)
        if not wait_for(lambda: self.echo_ok(), max(1, timeout - (time.time() - t0)), 0.1):
            raise RuntimeError("no echo through %s:7\n%s" % (self.vip, self.tail_log()))
        self.mark("traffic")

    def start_longlived(self, port=7, conns=30, duration=0, probe_interval=0.2, extra=()):
        """Starts tools/longlived.py in the client's namespace; returns a LongLived."""
        return LongLived(self, port, conns, duration, probe_interval, extra)

    def tail_log(self, n=40):
        return "".join("--- %s's drfwd:\n%s" % (role, d.tail_log(n)) for role, d in self.directors.items())

    def stop_all(self):
        for d in self.directors.values():
            if d.running:
                d.stop()
        super().stop_all()


class LongLived:
    """tools/longlived.py running in the client namespace of a lab: ready() once every
    connection has its first answer; finish() stops it and returns its JSON report."""

    def __init__(self, lab, port, conns, duration, probe_interval, extra=()):
        self.lab = lab
        self.key = "client-longlived-%d" % id(self)  # stopped (SIGTERM) by down() if still running
        self.stop_file = os.path.join(lab.dir, self.key + ".stop")
        self.ready_file = os.path.join(lab.dir, self.key + ".ready")
        cmd = ["ip", "netns", "exec", lab.ns("client"), PY, os.path.join(TOP, "tools", "longlived.py"),
               lab.vip, str(port), "--conns", str(conns), "--duration", str(duration), "--stop-file",
               self.stop_file, "--ready-file", self.ready_file, "--probe-interval", str(probe_interval)] + list(extra)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lab.pids[self.key] = self.proc.pid
        lab.save()

    def ready(self, timeout=10):
        return wait_for(lambda: os.path.exists(self.ready_file) or self.proc.poll() is not None, timeout) and \
            os.path.exists(self.ready_file)

    def finish(self, timeout=30):
        open(self.stop_file, "w").close()
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        self.lab.pids.pop(self.key, None)
        self.lab.save()
        if self.proc.returncode != 0:
            raise RuntimeError("longlived.py exit %s: %s" % (self.proc.returncode, err))
        return json.loads(out)


KEEPALIVED_CONF = """\
global_defs {{
    router_id {role}
    vrrp_version 3
}}

vrrp_instance VIP {{
    state BACKUP
    interface drfwd0
    virtual_router_id 100
    priority {priority}
    advert_int {advert_int}
    virtual_ipaddress {{
        {vip}/32 dev drfwd0
    }}
}}
"""


class VrrpLab(DirectorsLab):
    """Two directors on the switch, active/backup: keepalived (VRRPv3) on each drfwd0
    elects the master, which holds the VIP on drfwd0; with `set vip-arp kernel` only that
    director answers ARP for the VIP."""
    kind = "vrrp"
    PRIORITY = {"lb1": 150, "lb2": 100}
    ADVERT_INT = 0.1

    def __init__(self, directors=2, **kw):
        super().__init__(directors=2, **kw)

    def mode_lines(self):
        return "set vip-arp kernel\n"

    def _build(self):
        self.common_build()
        self.cable("sw", "c0", "client")
        sh("ip", "-n", self.ns("client"), "addr", "add", "198.18.0.1/24", "dev", "eth0")
        self.start_servers()
        for role in self.directors:
            self.start_director(role)
            self.start_keepalived(role)
        self.mark("directors")
        if not wait_for(lambda: len(self.masters()) == 1, 10):
            raise RuntimeError("no single VRRP master after 10 s: %s" % self.masters())
        self.mark("master")
        self.wait_traffic()
        self.save()

    def keepalived_conf(self, role):
        return KEEPALIVED_CONF.format(role=role, priority=self.PRIORITY[role], advert_int=self.ADVERT_INT,
                                      vip=self.vip)

    def start_keepalived(self, role):
        if role + "-keepalived" in self.pids:  # signalled without waiting: reap it first
            self.stop_keepalived(role, signal.SIGKILL)
        home = os.path.join(self.dir, role)
        conf = os.path.join(home, "keepalived.conf")
        with open(conf, "w") as f:
            f.write(self.keepalived_conf(role))
        pid = {k: os.path.join(home, "keepalived-%s.pid" % k) for k in ("main", "vrrp", "checker")}
        for p in pid.values():
            if os.path.exists(p):
                os.unlink(p)
        self.spawn(role + "-keepalived", role, ["keepalived", "-n", "-l", "-D", "-f", conf, "-p", pid["main"],
                                                "-r", pid["vrrp"], "-c", pid["checker"]],
                   log=os.path.join(home, "keepalived.log"))
        # The VRRP child is a process of the lab too (stopped with keepalived, or alone).
        if wait_for(lambda: os.path.exists(pid["vrrp"]) and open(pid["vrrp"]).read().strip(), 5):
            self.pids[role + "-vrrp"] = int(open(pid["vrrp"]).read().strip())
            self.save()

    def stop_keepalived(self, role, sig=signal.SIGTERM, wait=True):
        """SIGTERM: keepalived leaves the group in order (priority 0 advert, the VIP
        removed); SIGKILL: keepalived and its VRRP child vanish at once and leave the VIP
        on drfwd0. wait False: only the signal, the processes are reaped later."""
        keys = [role + "-keepalived"] + ([role + "-vrrp"] if sig == signal.SIGKILL else [])
        for key in keys:
            if key in self.pids:
                try:
                    os.kill(self.pids[key], sig)
                except ProcessLookupError:
                    pass
        if wait:
            for key in keys:
                self.stop(key, sig=sig)
            self.pids.pop(role + "-vrrp", None)
            self.save()

    def masters(self):
        """The directors whose drfwd0 holds the VIP."""
        return [role for role in self.directors if self.vip in self.addresses(role)]

    def stop_all(self):
        for role in self.directors:  # keepalived first: it leaves the group in order
            self.stop(role + "-keepalived")
            self.pids.pop(role + "-vrrp", None)
        super().stop_all()


# Both ends of every BGP session: BFD notices a dead peer; the short timers only make the
# lab quick to connect again.
BGP_SESSION = """\
    bfd on;
    hold time 3;
    keepalive time 1;
    connect delay time 1;
    connect retry time 1;
    error wait time 1, 2;"""

ROUTER_BIRD = """\
log "{home}/bird.log" all;
timeformat log "%F %T.%3f";
debug protocols {{ states }};
router id 198.18.0.254;

protocol device {{ }}

# Every path to a VIP goes to the kernel: one multipath route over the directors.
protocol kernel {{
    ipv4 {{ import none; export all; }};
    merge paths on;
}}

protocol bfd {{
    interface "eth1" {{ interval 100 ms; multiplier 3; }};
}}

template bgp director {{
    local 198.18.0.254 as {router_as};
    ipv4 {{ import all; export none; }};
{session}
}}
{peers}"""

DIRECTOR_BIRD = """\
log "{home}/bird.log" all;
timeformat log "%F %T.%3f";
debug protocols {{ states }};
router id {dip};

# drfwd's routes (VIP/32 dev drfwd0 table {table} proto {proto}) land in a table of their own.
ipv4 table vips;

protocol device {{ }}

protocol kernel vip_routes {{
    ipv4 {{ table vips; import all; export none; }};
    kernel table {table};
    learn;
}}

protocol bfd {{
    interface "drfwd0" {{ interval 100 ms; multiplier 3; }};
}}

protocol bgp uplink {{
    local {dip} as {director_as};
    neighbor 198.18.0.254 as {router_as};
    ipv4 {{ table vips; import none; export all; next hop self; }};
{session}
}}
"""


class EcmpLab(DirectorsLab):
    """N directors active/active behind a router: each announces the VIP by BGP from its
    DIP (BIRD on drfwd0, the VIP routes drfwd publishes in table 100), the router (BIRD,
    BFD) installs one ECMP route over the directors and hashes flows on addresses,
    protocol and ports. The real servers reply through the router, never a director."""
    kind = "ecmp"

    def __init__(self, directors=2, **kw):
        super().__init__(directors=directors, **kw)
        self.vip = ECMP_VIP

    def mode_lines(self):
        # The routers reach the VIP through the directors' routes alone: no director
        # answers ARP for it (nobody puts it on drfwd0, so kernel mode never claims it).
        return "set vip-arp kernel\nset vip-routes table %d\n" % VIP_TABLE

    def _build(self):
        self.common_build()
        self.add_ns("rt")
        client, rt = self.ns("client"), self.ns("rt")
        sh("ip", "-n", client, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", rt)
        for ns in (client, rt):
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ethtool", "-K", "eth0", "tx", "off", "rx", "off", ns=ns)
        self.cable("sw", "rt", "rt", "eth1")
        sh("ip", "-n", client, "addr", "add", "198.18.2.1/24", "dev", "eth0")
        sh("ip", "-n", client, "route", "add", "default", "via", "198.18.2.254")
        sh("ip", "-n", rt, "addr", "add", "198.18.2.254/24", "dev", "eth0")
        sh("ip", "-n", rt, "addr", "add", "198.18.0.254/24", "dev", "eth1")
        # Hash on addresses, protocol and ports only: with policy 1 the kernel may reuse the
        # hash of the client's socket, which TCP changes on every retransmission timeout.
        self.router_sysctls(("net.ipv4.fib_multipath_hash_policy=3", "net.ipv4.fib_multipath_hash_fields=0x0037"))
        self.start_servers(gateway="198.18.0.254")
        self.start_router_bird()
        for role in self.directors:
            self.start_director(role)
        self.mark("directors")
        for role in self.directors:
            self.start_bird(role)
        if not wait_for(lambda: set(self.sessions().values()) == {"Established"}, 20):
            raise RuntimeError("BGP sessions after 20 s: %s\n%s" % (self.sessions(), self.bird_status()))
        self.mark("bgp established")
        if not wait_for(lambda: len(self.nexthops()) == len(self.directors), 20):
            raise RuntimeError("the router has %s for the VIP after 20 s\n%s" % (self.nexthops(), self.bird_status()))
        self.mark("ecmp route")
        self.wait_traffic()
        self.save()

    def start_director(self, role, wait=True):
        """drfwd (again), and the director's BIRD again after it if it was running: BIRD
        2.0.12 does not always get along with a drfwd0 that vanished and came back (its
        BFD socket for the session fails to bind, "bfd1: Socket error: bind: Cannot
        assign requested address", and BFD stays down)."""
        bird = self.bird_running(role)
        if bird:
            self.stop_bird(role)
        super().start_director(role, wait=wait)
        if bird:
            self.start_bird(role)

    def add_director(self):
        """One more director (lbN+1), announced to the router: returns its role."""
        role = "lb%d" % (len(self.directors) + 1)
        self.add_ns(role)
        self.add_director_object(role)
        self.save()
        self.director_link(role)
        self.start_director(role)
        self.start_bird(role)
        self.write_router_conf()
        self.birdc("rt", "configure", check=True)
        return role

    # ---- BIRD ----------------------------------------------------------------------
    def bird_home(self, role):
        return os.path.join(self.dir, role)

    def write_router_conf(self):
        peers = "".join("\nprotocol bgp %s from director { neighbor %s as %d; }\n" % (role, self.dip(role), DIRECTOR_AS)
                        for role in self.directors)
        home = self.bird_home("rt")
        os.makedirs(home, exist_ok=True)
        with open(os.path.join(home, "bird.conf"), "w") as f:
            f.write(ROUTER_BIRD.format(home=home, router_as=ROUTER_AS, session=BGP_SESSION, peers=peers))

    def start_router_bird(self):
        self.write_router_conf()
        self.start_bird_process("rt")

    def start_bird(self, role):
        home = self.bird_home(role)
        with open(os.path.join(home, "bird.conf"), "w") as f:
            f.write(DIRECTOR_BIRD.format(home=home, dip=self.dip(role), table=VIP_TABLE, proto=VIP_ROUTE_PROTO,
                                         director_as=DIRECTOR_AS, router_as=ROUTER_AS, session=BGP_SESSION))
        self.start_bird_process(role)

    def start_bird_process(self, role):
        home = self.bird_home(role)
        conf, sock = os.path.join(home, "bird.conf"), os.path.join(home, "bird.ctl")
        if os.path.exists(sock):  # from the BIRD before: wait for the new one's
            os.unlink(sock)
        self.spawn(role + "-bird", role, ["bird", "-f", "-c", conf, "-s", sock, "-P", os.path.join(home, "bird.pid")],
                   log=os.path.join(home, "bird.out"))
        if not wait_for(lambda: os.path.exists(sock), 5):
            raise RuntimeError("%s: BIRD did not start:\n%s" % (role, open(os.path.join(home, "bird.out")).read()))

    def bird_running(self, role):
        return role + "-bird" in self.pids

    def stop_bird(self, role):
        self.stop(role + "-bird")

    def birdc(self, role, *words, check=False):
        sock = os.path.join(self.bird_home(role), "bird.ctl")
        r = subprocess.run(["birdc", "-s", sock] + list(words), capture_output=True, text=True, timeout=10)
        if check and (r.returncode != 0 or "syntax error" in r.stdout):
            raise RuntimeError("birdc %s: %s" % (" ".join(words), r.stdout + r.stderr))
        return r.stdout

    def sessions(self):
        """The router's BGP sessions: director -> BIRD's state (Established, Connect, ...)."""
        out = {}
        for line in self.birdc("rt", "show", "protocols").splitlines():
            w = line.split()
            if len(w) >= 6 and w[0] in self.directors and w[1] == "BGP":
                out[w[0]] = w[5]
        return out

    def nexthops(self):
        """The router's next hops for the VIP (the directors' DIPs), sorted."""
        r = self.run("rt", "ip", "-j", "route", "show", self.vip + "/32")
        routes = json.loads(r.stdout or "[]") if r.returncode == 0 else []
        hops = []
        for route in routes:
            hops += [h["gateway"] for h in route.get("nexthops", [])] or [route["gateway"]] * ("gateway" in route)
        return sorted(hops)

    def bird_status(self):
        return "router: %s\n" % self.birdc("rt", "show", "protocols") + \
            "".join("%s: %s\n" % (role, self.birdc(role, "show", "protocols", "uplink")) for role in self.directors)


# ---- connection sync between the directors -------------------------------------------------

SYNC_LINES = "sync start master\nsync start backup\n"
SYNC_ECHO_SERVICES = ((7, "rr"), (8, "rr -p 300"))  # only sync carries their choices across


class SyncLab:
    """Mixed in before VrrpLab or EcmpLab: every director runs both sync daemons (IPVS sync
    v1, multicast 224.0.0.81:8848 on drfwd0) and the echo services use schedulers whose
    choices no other director can recompute: tcp 7 rr, tcp 8 rr with persistence (300 s).
    sync_lines: more drfwd lines after the sync ones (set sync-rate 5000, ...);
    more_services: more ipvsadm lines, formatted with vip, rs1 and rs2."""
    echo_services = SYNC_ECHO_SERVICES

    def __init__(self, sync_lines="", more_services="", **kw):
        super().__init__(**kw)
        self.sync_lines = sync_lines
        self.more_services = more_services

    def mode_lines(self):
        return super().mode_lines() + SYNC_LINES + self.sync_lines

    def services(self):
        return super().services() + self.more_services.format(vip=self.vip, **self.rs)

    def sync_counters(self, role):
        """The counters of a director's `show sync` (name -> value); {} if drfwd does not
        answer."""
        r = self.directors[role].ctl("show", "sync")
        out = {}
        for line in r.stdout.splitlines() if r.returncode == 0 else []:
            w = line.split()
            if line.startswith("  ") and len(w) >= 2 and w[1].isdigit():
                out[w[0]] = int(w[1])
        return out


class SyncVrrpLab(SyncLab, VrrpLab):
    """The VRRP lab with connection sync (see SyncLab)."""


class SyncEcmpLab(SyncLab, EcmpLab):
    """The ECMP lab with connection sync (see SyncLab)."""


# ---- VLANs: one drfwd port as an 802.1Q trunk ---------------------------------------------

VLAN_VIP = "198.18.10.100"
CLIENT_VLAN, SERVER_VLAN, STRANGER_VLAN = 10, 20, 30

# A TCP SYN to DST:PORT in a raw Ethernet frame to MAC (no ARP, no neighbour entry: the
# frame is written straight onto eth0), N times from source ports 42000 on; prints N.
RAW_SYN = r"""
import socket, struct, sys
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
mac, src, dst, port, n = sys.argv[1:6]
mac, src, dst, port, n = bytes.fromhex(mac.replace(":", "")), socket.inet_aton(src), socket.inet_aton(dst), int(port), int(n)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
own = s.getsockname()[4]
for i in range(n):
    tcp = struct.pack("!HHIIBBHHH", 42000 + i, port, 1000 + i, 0, 5 << 4, 0x02, 64240, 0, 0)
    tcp = tcp[:16] + struct.pack("!H", csum(src + dst + struct.pack("!BBH", 0, 6, len(tcp)) + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), i, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    s.send(mac + own + b"\x08\x00" + ip + tcp + bytes(6))  # padded to Ethernet's 60 bytes
print(n)
"""


def vlan_trunk(trunk, access, ready_file=None):
    """The VLAN lab's trunk port (run as a process of the lab in the switch namespace):
    what a VLAN-filtering bridge does for a trunk, which this kernel cannot (no
    CONFIG_BRIDGE_VLAN_FILTERING, no 8021q). `access` maps VID -> the free end of a veth
    whose other end is a port of that VLAN's bridge. A frame from the trunk tagged with
    one of those VIDs leaves untagged on that VLAN's veth; any other frame from the trunk
    (untagged: there is no native VLAN; priority-tagged; another VID) is dropped. A frame
    from a VLAN's veth leaves on the trunk tagged with its VID (802.1Q, PCP 0). Linux
    moves a received tag into the packet's metadata (PACKET_AUXDATA); an inner tag
    stays in the frame and goes along untouched. Counts are printed at SIGTERM."""
    import collections
    import select
    import socket
    import struct
    SOL_PACKET, PACKET_AUXDATA, TP_STATUS_VLAN_VALID, PACKET_OUTGOING, ETH_P_ALL = 263, 8, 0x10, 4, 3

    def open_port(name):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
        s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
        s.bind((name, ETH_P_ALL))
        return s

    def vid_of(data, anc):
        """(VID or None if untagged, the frame without its outer tag)."""
        for level, kind, aux in anc:
            if level == SOL_PACKET and kind == PACKET_AUXDATA and len(aux) >= 20:
                status, _, _, _, _, tci, _ = struct.unpack("IIIHHHH", aux[:20])
                if status & TP_STATUS_VLAN_VALID:
                    return tci & 0xfff, data
        if data[12:14] == b"\x81\x00":
            return struct.unpack("!H", data[14:16])[0] & 0xfff, data[:12] + data[16:]
        return None, data

    counts = collections.Counter()
    trunk_sock = open_port(trunk)
    ports = {vid: open_port(name) for vid, name in access.items()}
    vlan_of = {s: vid for vid, s in ports.items()}
    def leave(*_):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the counts are printed on the way out
        sys.exit(0)
    signal.signal(signal.SIGTERM, leave)
    if ready_file:
        open(ready_file, "w").close()
    print("trunk %s: VLANs %s" % (trunk, ", ".join("%d <-> %s" % kv for kv in sorted(access.items()))), flush=True)
    try:
        while True:
            for s in select.select([trunk_sock] + list(vlan_of), [], [])[0]:
                data, anc, _, addr = s.recvmsg(65536, socket.CMSG_SPACE(32))
                if addr[2] == PACKET_OUTGOING:
                    continue
                vid, frame = vid_of(data, anc)
                if s is trunk_sock:
                    out = ports.get(vid)
                    if out is None:
                        counts["from trunk dropped: %s" % ("untagged" if vid is None else "vid %d" % vid)] += 1
                        continue
                    key = "from trunk vid %d" % vid
                else:
                    if vid is not None:  # an access port takes untagged frames only
                        counts["from vlan %d dropped: tagged %d" % (vlan_of[s], vid)] += 1
                        continue
                    out, vid = trunk_sock, vlan_of[s]
                    frame = frame[:12] + struct.pack("!HH", 0x8100, vid) + frame[12:]
                    key = "to trunk vid %d" % vid
                try:
                    out.send(frame)
                    counts[key] += 1
                except OSError as e:
                    counts["%s: %s" % (key, e.strerror)] += 1
    finally:
        print("trunk %s: %s" % (trunk, json.dumps(dict(sorted(counts.items())))), flush=True)


class VlanLab(Lab):
    """drfwd's one port as an 802.1Q trunk: the client on VLAN 10, the real servers on
    VLAN 20, drfwd with a VLAN interface (and DIP) on each (`port 0 vlan 10|20 address
    ...`, kernel devices drfwd0.10 and drfwd0.20). A router on two access ports (VLAN 10
    and 20) carries the real servers' replies (from the VIP) to the client. A "stranger"
    on VLAN 30, which drfwd's trunk carries but drfwd has no interface for, sends to the
    VIP: its frames reach drfwd tagged 30 and are dropped (`vlan-unknown`). No static
    neighbour anywhere: the client resolves the VIP on VLAN 10, drfwd the real servers
    on VLAN 20.

    The switch (namespace P-sw) is one Linux bridge per VLAN (br10, br20, br30) holding
    that VLAN's access ports, and the trunk to drfwd (veth lb0) is served by vlan_trunk()
    (a process of the lab): this kernel has neither bridge VLAN filtering nor 8021q."""
    kind = "vlan"
    DIPS = {CLIENT_VLAN: "198.18.10.2", SERVER_VLAN: "198.18.20.2"}
    CLIENT, STRANGER = "198.18.10.1", "198.18.30.1"
    ROUTER = {CLIENT_VLAN: "198.18.10.254", SERVER_VLAN: "198.18.20.254"}
    TRUNK = "lb0"                                               # the switch's end of drfwd's veth
    TRUNK_VLANS = (CLIENT_VLAN, SERVER_VLAN, STRANGER_VLAN)     # the VLANs it carries, tagged
    # access port (switch's end of the veth) -> (namespace role, its interface, VLAN)
    ACCESS = {
        "c0": ("client", "eth0", CLIENT_VLAN),
        "rt0": ("rt", "eth0", CLIENT_VLAN),
        "rt1": ("rt", "eth1", SERVER_VLAN),
        "r1": ("rs1", "eth0", SERVER_VLAN),
        "r2": ("rs2", "eth0", SERVER_VLAN),
        "s0": ("stranger", "eth0", STRANGER_VLAN),
    }

    def __init__(self, **kw):
        kw.pop("two_port", None)
        super().__init__(**kw)
        self.vip = VLAN_VIP
        self.rs = {"rs1": "198.18.20.11", "rs2": "198.18.20.12"}

    def services(self):
        return ("# the ipvsadm lines an LVS operator would write, and an HTTP check (GET /, 200)\n"
                "ipvsadm -A -t {vip}:80 -s rr\n"
                "ipvsadm -a -t {vip}:80 -r {rs1}:80 -g\n"
                "ipvsadm -a -t {vip}:80 -r {rs2}:80 -g\n"
                "vip set {vip} tcp 80 check http\n").format(vip=self.vip, **self.rs)

    def drfwd_conf(self):
        return ("# port 0 is a trunk: VLAN %d (clients) and VLAN %d (real servers), both tagged\n" %
                (CLIENT_VLAN, SERVER_VLAN) +
                "".join("port 0 vlan %d address %s/24\n" % (vid, dip) for vid, dip in self.DIPS.items()) +
                self.services())

    def _build(self):
        os.makedirs(STATE_DIR, exist_ok=True)
        self.t0 = time.time()
        for role in ("client", "lb", "rs1", "rs2", "rt", "stranger"):
            self.add_ns(role)
        self.save()
        self.switch("sw", ["br%d" % vid for vid in self.TRUNK_VLANS])
        for port, (role, iface, vid) in self.ACCESS.items():
            self.cable("sw", port, role, iface, bridge="br%d" % vid)
        self.start_trunk()
        client, rt, stranger = self.ns("client"), self.ns("rt"), self.ns("stranger")
        sh("ip", "-n", client, "addr", "add", self.CLIENT + "/24", "dev", "eth0")
        sh("ip", "-n", client, "route", "add", "default", "via", self.ROUTER[CLIENT_VLAN])
        sh("ip", "-n", rt, "addr", "add", self.ROUTER[CLIENT_VLAN] + "/24", "dev", "eth0")
        sh("ip", "-n", rt, "addr", "add", self.ROUTER[SERVER_VLAN] + "/24", "dev", "eth1")
        self.router_sysctls()  # forwarding; rp_filter 0: replies from the VIP come in on eth1
        # The stranger takes the client's subnet (and so the VIP) for its own link.
        sh("ip", "-n", stranger, "addr", "add", self.STRANGER + "/24", "dev", "eth0")
        sh("ip", "-n", stranger, "route", "add", "198.18.10.0/24", "dev", "eth0")
        for role in ("rs1", "rs2"):
            self.real_server(role, self.rs[role], 24, gateway=self.ROUTER[SERVER_VLAN])
            self.start_nginx(role)
        self.director_ns("lb", ["eth0"])
        with open(self.config, "w") as f:
            f.write(self.drfwd_conf())
        self.start_drfwd(["eth0"])
        self.save()
        self.wait_ready()
        self.ready_after = time.time() - self.t0

    def start_trunk(self):
        """drfwd's veth (lb0 here, eth0 in the director) as a trunk: for each VLAN a veth
        pair tVID (the trunk process's end) - vVID (a port of brVID), and vlan_trunk()
        between lb0 and the tVIDs."""
        sw = self.ns("sw")
        self.cable("sw", self.TRUNK, "lb", "eth0", bridge=None)
        for vid in self.TRUNK_VLANS:
            sh("ip", "-n", sw, "link", "add", "t%d" % vid, "type", "veth", "peer", "name", "v%d" % vid)
            sh("ip", "-n", sw, "link", "set", "v%d" % vid, "master", "br%d" % vid, "up")
            sh("ip", "-n", sw, "link", "set", "t%d" % vid, "up")
            for end in ("t%d" % vid, "v%d" % vid):
                sh("ethtool", "-K", end, "tx", "off", "rx", "off", ns=sw)
        ready = os.path.join(self.dir, "trunk.ready")
        access = "{%s}" % ", ".join("%d: 't%d'" % (vid, vid) for vid in self.TRUNK_VLANS)
        code = "import sys; sys.path.insert(0, %r); import lab; lab.vlan_trunk(%r, %s, %r)" % (
            os.path.join(TOP, "tools"), self.TRUNK, access, ready)
        self.spawn("sw-trunk", "sw", [PY, "-c", code], log=os.path.join(self.dir, "trunk.log"))
        if not wait_for(lambda: os.path.exists(ready), 10):
            raise RuntimeError("the trunk process did not start:\n" + self.trunk_log())

    def trunk_log(self):
        try:
            with open(os.path.join(self.dir, "trunk.log")) as f:
                return f.read()
        except OSError:
            return "(no trunk log)"

    def state(self):
        s = super().state()
        s.pop("two_port", None)
        return s

    def stop_all(self):
        """drfwd first (SIGINT, as the other labs), then every other process signalled at
        once and waited for: nginx takes about 2 s to go, one after the other is slow."""
        if "drfwd" in self.pids:
            self.stop_drfwd()
        for pid in self.pids.values():
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for key in list(self.pids):
            self.stop(key, sig=0)  # only waits (SIGKILL after 10 s)

    # ---- looking at it -----------------------------------------------------------------
    def mac(self, role, iface="eth0"):
        """An interface's MAC (drfwd's port has its veth's: mac("lb"))."""
        return self.run(role, "cat", "/sys/class/net/%s/address" % iface, check=True).stdout.strip().lower()

    def kernel_vlans(self):
        """drfwd's kernel interfaces for its VLAN interfaces, drfwd0.VID, in the director's
        namespace: name -> {"kind" (`tap` for drfwd's TAPs; a Linux VLAN device would
        be `vlan`), "vid" (a Linux VLAN device's ID, else None), "mac", "addresses"} (from
        `ip -d addr`)."""
        r = self.run("lb", "ip", "-d", "-j", "addr", "show")
        out = {}
        for link in json.loads(r.stdout or "[]") if r.returncode == 0 else []:
            if not link["ifname"].startswith("drfwd0."):
                continue
            info = link.get("linkinfo", {})
            data = info.get("info_data", {})
            kind = data.get("type") if info.get("info_kind") == "tun" else info.get("info_kind")  # tun: tun or tap
            out[link["ifname"]] = {"kind": kind, "vid": data.get("id"), "mac": link.get("address"),
                                   "addresses": ["%s/%s" % (a["local"], a["prefixlen"])
                                                 for a in link.get("addr_info", []) if a.get("family") == "inet"]}
        return out

    def stranger_syns(self, n=20, port=80):
        """n TCP SYNs from the stranger (VLAN 30) to VIP:port, straight to drfwd's MAC."""
        r = self.run("stranger", PY, "-c", RAW_SYN, self.mac("lb"), self.STRANGER, self.vip, str(port), str(n),
                     check=True)
        return int(r.stdout)

    def status_lines(self):
        lines = ["switch %s: trunk %s (to drfwd's eth0) carries VLANs %s tagged; access ports %s" % (
            self.ns("sw"), self.TRUNK, ", ".join(map(str, self.TRUNK_VLANS)),
            ", ".join("%s (%s %s) VLAN %d" % (p, role, iface, vid) for p, (role, iface, vid) in self.ACCESS.items()))]
        lines.append("drfwd's kernel VLAN interfaces: " + (", ".join(
            "%s (%s%s) %s" % (name, v["kind"], "" if v["vid"] is None else " id %d" % v["vid"], " ".join(v["addresses"]))
            for name, v in sorted(self.kernel_vlans().items())) or "none"))
        return "\n".join(lines) + "\n"


# ---- IPv6: the plain lab dual-stack --------------------------------------------------------

VIP6 = "2001:2::100"

# A neighbor solicitation for TARGET from IFACE (to TARGET's solicited-node group, hop
# limit 255, with the source link-layer address option), then every neighbor
# advertisement for TARGET heard within WAIT seconds, as JSON: [{"src": IPv6 source,
# "tlla": the target link-layer address option (MAC) or null, "flags": "RSO" letters}].
# The kernel fills in the ICMPv6 checksum (raw ICMPv6 sockets).
NS_PROBE = r"""
import json, select, socket, struct, sys, time
iface, target, wait = sys.argv[1], sys.argv[2], float(sys.argv[3])
t = socket.inet_pton(socket.AF_INET6, target)
group = socket.inet_ntop(socket.AF_INET6, bytes.fromhex("ff0200000000000000000001ff") + t[13:])
mac = bytes.fromhex(open("/sys/class/net/%s/address" % iface).read().strip().replace(":", ""))
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
s.sendto(struct.pack("!BBHI", 135, 0, 0, 0) + t + bytes([1, 1]) + mac, (group, 0, 0, socket.if_nametoindex(iface)))
out, deadline = [], time.time() + wait
while True:
    left = deadline - time.time()
    if left <= 0 or not select.select([s], [], [], left)[0]:
        break
    data, peer = s.recvfrom(2048)
    if len(data) < 24 or data[0] != 136 or data[8:24] != t:
        continue
    tlla, i = None, 24
    while i + 2 <= len(data) and data[i + 1]:
        if data[i] == 2 and data[i + 1] == 1:
            tlla = ":".join("%02x" % b for b in data[i + 2:i + 8])
        i += 8 * data[i + 1]
    out.append({"src": peer[0].split("%")[0], "tlla": tlla,
                "flags": "".join(f for f, bit in (("R", 0x80), ("S", 0x40), ("O", 0x20)) if data[4] & bit)})
print(json.dumps(out))
"""


class Ipv6Lab(Lab):
    """The one-port lab made dual-stack. Besides the IPv4 lab, the client (2001:2::1/64)
    and the real servers (2001:2::11/64, 2001:2::12/64) have IPv6 addresses on the
    switch's one segment, drfwd's port the IPv6 DIP 2001:2::2/64 (on drfwd0, the kernel
    path), each real server the IPv6 VIP 2001:2::100/128 on its loopback and nginx on
    [::]:80 too; drfwd serves 2001:2::100 tcp 80 (rr, HTTP check from the IPv6 DIP).
    No static neighbour anywhere: the client resolves the VIP by neighbor solicitation
    (drfwd answers), drfwd the real servers (from 2001:2::2). Addresses: 198.18.0.0/15
    and 2001:2::/48 (IPv6's benchmarking range, RFC 5180).

    No DAD anywhere (accept_dad=0 in every namespace, `nodad` on every address), so
    nothing waits for it. The director's eth0 (drfwd's af_packet port) keeps IPv6 off,
    as it keeps out of ARP with arp_ignore=8: drfwd turns IPv6 on for drfwd0 alone. A
    real server's kernel does not answer solicitations on eth0 for the VIP on lo (Linux
    answers for addresses of the receiving interface only): IPv6 needs no arp_ignore,
    and a real server's own solicitations leave from its eth0 address (not the VIP)."""
    kind = "ipv6"
    CLIENT6 = "2001:2::1"
    DIP6 = "2001:2::2"
    PREFIX6 = 64
    V6_ROLES = ("client", "rs1", "rs2")

    def __init__(self, **kw):
        kw.pop("two_port", None)
        extra = dict(kw.pop("nginx_extra", None) or {})
        for role in ("rs1", "rs2"):
            extra[role] = "listen [::]:80 reuseport;\n    " + extra.get(role, "")
        super().__init__(nginx_extra=extra, **kw)
        self.vip6 = VIP6
        self.rs6 = {"rs1": "2001:2::11", "rs2": "2001:2::12"}

    # ---- building ------------------------------------------------------------------
    def add_ns(self, role):
        """IPv6 on (and no DAD) in the client's and the real servers' namespaces, before
        their interfaces exist (they take `default`); the director's no DAD (drfwd sets
        drfwd0's own), IPv6 off on its eth0; the switch's stays off (a bridge forwards
        IPv6 all the same)."""
        name = super().add_ns(role)
        if role in self.V6_ROLES or role == "lb":
            for key in ("all", "default"):
                sh("sysctl", "-qw", "net.ipv6.conf.%s.accept_dad=0" % key, ns=name)
        if role in self.V6_ROLES:
            for key in ("all", "default"):
                sh("sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=0" % key, ns=name)
        return name

    def switch(self, role, bridges=("br0",)):
        """Without MLD snooping: the switch floods the solicitations for the VIP to drfwd's
        port, which joins no group by MLD."""
        super().switch(role, bridges)
        for br in bridges:
            sh("ip", "-n", self.ns(role), "link", "set", br, "type", "bridge", "mcast_snooping", "0")

    def address_client(self):
        super().address_client()
        sh("ip", "-6", "-n", self.ns("client"), "addr", "add", "%s/%d" % (self.CLIENT6, self.PREFIX6), "dev", "eth0",
           "nodad")

    def real_server(self, role, rip, prefix_len, gateway=None):
        super().real_server(role, rip, prefix_len, gateway)
        name = self.ns(role)
        sh("ip", "-6", "-n", name, "addr", "add", "%s/%d" % (self.rs6[role], self.PREFIX6), "dev", "eth0", "nodad")
        sh("ip", "-6", "-n", name, "addr", "add", self.vip6 + "/128", "dev", "lo", "nodad")

    def port_lines(self):
        return super().port_lines() + "port 0 address %s/%d\n" % (self.DIP6, self.PREFIX6)

    def services(self):
        return super().services() + (
            "# IPv6 (drfwd's grammar): round robin, an HTTP check from the IPv6 DIP\n"
            "vip add {vip6} tcp 80 sched rr check http path / expect 200 interval 500ms\n"
            "rs add {vip6} tcp 80 {rs1}\n"
            "rs add {vip6} tcp 80 {rs2}\n").format(vip6=self.vip6, **self.rs6)

    def _build(self):
        self.t0 = time.time()
        super()._build()
        self.ready_after = time.time() - self.t0

    def wait_ready(self, timeout=20):
        """Until both real servers answer through the IPv4 VIP and through the IPv6 VIP."""
        t0 = time.time()
        super().wait_ready(timeout)
        seen = set()
        while time.time() - t0 < timeout and seen != {"RS1", "RS2"}:
            r = self.curl6(timeout=1)
            if r:
                seen.add(r)
            else:
                time.sleep(0.2)
        if seen != {"RS1", "RS2"}:
            raise RuntimeError("no IPv6 service after %ds (answers seen: %s); drfwd log:\n%s" %
                               (timeout, sorted(seen), self.tail_log()))

    def state(self):
        s = super().state()
        s.pop("two_port", None)
        return s

    # drfwd first, then every other process signalled at once (VlanLab's).
    stop_all = VlanLab.stop_all

    # ---- using it ------------------------------------------------------------------
    def curl6(self, path="/", timeout=2):
        """One request to http://[VIP6]/ from the client; the answer (RS1 or RS2) or None."""
        r = self.run("client", "curl", "-6", "-g", "-s", "--max-time", str(timeout),
                     "http://[%s]%s" % (self.vip6, path))
        return r.stdout.strip() if r.returncode == 0 else None

    def mac(self, role, iface="eth0"):
        return self.run(role, "cat", "/sys/class/net/%s/address" % iface, check=True).stdout.strip().lower()

    def solicit(self, target, role="client", wait=1.0):
        """A neighbor solicitation for target from role's eth0; the advertisements heard
        for it within wait seconds (see NS_PROBE)."""
        r = self.run(role, PY, "-c", NS_PROBE, "eth0", target, str(wait), check=True)
        return json.loads(r.stdout)

    def neigh6(self, role, address):
        """role's kernel neighbour entry for an IPv6 address: {"lladdr", "state", ...} or {}."""
        r = self.run(role, "ip", "-6", "-j", "neigh", "show", address, "dev", "eth0")
        entries = json.loads(r.stdout or "[]") if r.returncode == 0 else []
        return entries[0] if entries else {}

    def addresses6(self, role, dev):
        """The global IPv6 addresses of an interface (ADDRESS/LEN), [] if it has none
        (iproute2 lists the addresses the scope filters out as {})."""
        r = self.run(role, "ip", "-6", "-j", "addr", "show", "dev", dev, "scope", "global")
        return ["%s/%d" % (a["local"], a["prefixlen"]) for link in json.loads(r.stdout or "[]")
                for a in link.get("addr_info", []) if "local" in a] if r.returncode == 0 else []

    def status_lines(self):
        return ("IPv6: client %s, RS1 %s, RS2 %s (VIP %s on their lo), VIP %s tcp 80 rr\n"
                "drfwd0's IPv6 addresses: %s; the director's eth0: %s\n" % (
                    self.CLIENT6, self.rs6["rs1"], self.rs6["rs2"], self.vip6, self.vip6,
                    " ".join(self.addresses6("lb", "drfwd0")) or "none",
                    " ".join(self.addresses6("lb", "eth0")) or "none (IPv6 off)"))


class KeepalivedLab(Lab):
    """The one-port lab configured from a keepalived.conf (docs/examples/keepalived.conf:
    wlc, DR, HTTP_GET checks every second, a sorry server), loaded with
    --import-keepalived; drfwd's own file holds its port line only. Besides RS1 and RS2,
    a sorry server (role `sorry`, 198.18.0.19, nginx answering SORRY, the VIP on its lo)
    that answers while both real servers are down."""
    kind = "keepalived"
    SORRY = "198.18.0.19"
    KEEPALIVED_CONF = os.path.join(TOP, "docs", "examples", "keepalived.conf")

    def __init__(self, **kw):
        kw.pop("two_port", None)
        super().__init__(**kw)

    def services(self):
        return "# services: imported from %s (--import-keepalived)\n" % self.KEEPALIVED_CONF

    def _build(self):
        self.t0 = time.time()
        super()._build()
        self.ready_after = time.time() - self.t0

    def start_drfwd(self, ifaces):
        """The sorry server first (drfwd resolves it at start like any real server)."""
        if self.ns("sorry") not in self.namespaces:
            self.add_ns("sorry")
            self.cable("sw", "r9", "sorry")
            self.real_server("sorry", self.SORRY, 24)
            self.save()
            self.start_nginx("sorry")
        self.lb.start(ifaces, list(self.drfwd_args) + ["--import-keepalived", self.KEEPALIVED_CONF],
                      console=self.use_console)

    def state(self):
        s = super().state()
        s.pop("two_port", None)
        return s

    def status_lines(self):
        return "services from %s; sorry server %s\n" % (self.KEEPALIVED_CONF, self.SORRY)


LABS = {"vrrp": VrrpLab, "ecmp": EcmpLab, "vlan": VlanLab, "ipv6": Ipv6Lab, "keepalived": KeepalivedLab}


# ---- command line ------------------------------------------------------------------------

def demo(args):
    if args.vlan:
        lab, what = VlanLab(prefix=args.prefix), "VLAN "
    elif args.ipv6:
        lab, what = Ipv6Lab(prefix=args.prefix), "dual-stack "
    elif args.keepalived:
        lab, what = KeepalivedLab(prefix=args.prefix), "keepalived.conf "
    else:
        lab, what = Lab(prefix=args.prefix, two_port=args.two_port), ""
    print("== building the %slab (namespaces %s-*) and starting drfwd" % (what, args.prefix), flush=True)
    try:
        lab.up()
        print("== drfwd's configuration:")
        print("".join("   " + line for line in open(lab.config)), flush=True)
        if args.keepalived:
            print("== ... and the keepalived.conf it imported (%s):" % lab.KEEPALIVED_CONF)
            print("".join("   " + line for line in open(lab.KEEPALIVED_CONF) if not line.startswith("!")), flush=True)
            print("== as drfwd runs it (drfwdctl show config):")
            print("".join("   " + l for l in lab.ctl("show", "config").stdout.splitlines(True)), flush=True)
        if args.vlan:
            demo_vlan(lab)
        if args.ipv6:
            demo_ipv6(lab)
        # (label, curl): IPv4, and IPv6 in the dual-stack lab
        curls = [("IPv4 ", lab.curl), ("IPv6 ", lab.curl6)] if args.ipv6 else [("", lab.curl)]

        def requests(n, title):
            print("== %s" % title, flush=True)
            for label, curl in curls:
                answers = [curl() or "(no answer)" for _ in range(n)]
                print("   %s%s" % (label, " ".join(answers)), flush=True)

        wlc = bool(args.keepalived)
        requests(10, "10 requests from the client to http://%s/%s (%s)" %
                 (lab.vip, " and http://[%s]/" % lab.vip6 if args.ipv6 else "",
                  "wlc: equal servers, short connections, each takes its turn" if wlc else "round robin"))
        print("== stopping nginx on RS2", flush=True)
        lab.stop_nginx("rs2")
        time.sleep(2.5)
        requests(10, "10 requests after the detection window: every answer from RS1")
        print("== starting nginx on RS2 again", flush=True)
        lab.start_nginx("rs2")
        time.sleep(3)
        requests(10, "10 requests after the recovery window: %s" %
                 ("wlc sends them to RS2 until its connection count catches up with RS1's" if wlc else
                  "round robin again"))
        if args.keepalived:
            print("== stopping nginx on RS1 and RS2", flush=True)
            lab.stop_nginx("rs1")
            lab.stop_nginx("rs2")
            time.sleep(3)
            requests(5, "5 requests with both real servers down: the sorry server answers")
            lab.start_nginx("rs1")
            lab.start_nginx("rs2")
            time.sleep(2)
            requests(10, "10 requests once they are back: the real servers again")
        print("== drfwd's log (health changes)")
        print("".join("   " + l for l in lab.tail_log(200).splitlines(True) if "health" in l), flush=True)
    finally:
        print("== tearing the lab down", flush=True)
        lab.down()


def demo_ipv6(lab):
    """The dual-stack lab's own part of the demo: how the client and drfwd found each
    other's (and the real servers') MACs over IPv6, and the kernel path."""
    print("== " + lab.status_lines().replace("\n", "\n   ").rstrip(), flush=True)
    lab.curl6()
    print("== the client's neighbour entry for the VIP %s: %s (drfwd's MAC: %s)" % (
        lab.vip6, lab.neigh6("client", lab.vip6).get("lladdr", "none"), lab.mac("lb")), flush=True)
    nas = [a for a in lab.solicit(lab.vip6) if "S" in a["flags"]]  # not drfwd's announcements
    print("   a neighbor solicitation for it from the client is answered by: %s (RS1 %s, RS2 %s hold it on lo)" % (
        ", ".join(a["tlla"] for a in nas) or "nobody", lab.mac("rs1"), lab.mac("rs2")), flush=True)
    r = lab.run("client", "ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", lab.DIP6)
    print("== ping -6 %s (the IPv6 DIP, drfwd's kernel interface) from the client:\n   %s" % (
        lab.DIP6, (r.stdout.strip().splitlines() or ["(nothing)"])[-2]), flush=True)
    for words in (("show", "neigh"), ("show", "rs")):
        r = lab.ctl(*words)
        print("== drfwdctl %s:\n%s" % (" ".join(words), "".join("   " + l for l in (r.stdout or r.stderr).splitlines(True))),
              end="", flush=True)


def demo_vlan(lab):
    """The VLAN lab's own part of the demo: the trunk, drfwd's VLAN interfaces and
    neighbours, and the stranger on VLAN 30 that drfwd ignores."""
    print("== " + lab.status_lines().replace("\n", "\n   ").rstrip(), flush=True)
    for words in (("show", "ports"), ("show", "neigh")):
        r = lab.ctl(*words)
        print("== drfwdctl %s:\n%s" % (" ".join(words), "".join("   " + l for l in (r.stdout or r.stderr).splitlines(True))),
              end="", flush=True)
    print("== the stranger on VLAN 30 (198.18.30.1) tries http://%s/: its ARP reaches drfwd tagged 30" % lab.vip,
          flush=True)
    r = lab.run("stranger", "curl", "-s", "--max-time", "1", "http://%s/" % lab.vip)
    print("   curl: %s" % ("answered?! " + r.stdout.strip() if r.returncode == 0 else "no answer (exit %d)" % r.returncode))
    print("   and sends %d SYNs straight to drfwd's MAC" % lab.stranger_syns(20), flush=True)
    time.sleep(0.2)
    r = lab.ctl("show", "stats")
    print("   drfwd's vlan-unknown drops: " + (" | ".join(l.strip() for l in r.stdout.splitlines() if "vlan-unknown" in l)
                                              or "(not in show stats)"), flush=True)


def report_longlived(rep):
    s, p = rep["summary"], rep.get("probes", {})
    print("   %d connections: %d reset, %d failed, %d moved to another real server (per RS: %s)"
          % (len(rep["connections"]), s["reset"], s["failed"], s["rs_changed"],
             ", ".join("%s %d" % kv for kv in sorted(s["per_rs"].items()))))
    print("   %d lines sent, %d answered; longest wait for an answer %.2fs, longest gap between answers %.2fs"
          % (s["lines_sent"], s["answers"], s["max_latency"], s["max_answer_gap"]))
    if p:
        print("   new connections meanwhile: %d served (the slowest in %.2fs), %d failed (longest outage %.2fs)"
              % (p["ok"], p["slowest"], p["failed"], p["longest_outage"]), flush=True)


def print_packets(lab, port):
    counts = {r: lab.packets(r, port) for r in lab.directors}
    print("   packets forwarded so far: %s" % ", ".join("%s %s" % (r, "(down)" if n is None else n)
                                                      for r, n in counts.items()), flush=True)


def demo_failover(lab, victim, gone, back, port=7):
    """Long-lived connections through VIP:port while the victim's drfwd is SIGKILLed and
    started again; gone() / back() say when the others took over / it is back."""
    sched = dict(lab.echo_services)[port]
    print("== 30 long-lived connections to %s:%d (%s), a line every 50 ms on each; a new connection every 0.2 s"
          % (lab.vip, port, sched), flush=True)
    ll = lab.start_longlived(port=port, conns=30)
    try:
        if not ll.ready():
            raise RuntimeError("the long-lived connections did not start")
        time.sleep(1)
        print_packets(lab, port)
        print("== SIGKILL drfwd on %s" % victim, flush=True)
        t = time.time()
        lab.kill_drfwd(victim, wait=False)
        took = wait_for(gone, 10, 0.02) and time.time() - t
        print("   taken over after %.2fs" % took if took else "   NOT taken over after 10 s", flush=True)
        time.sleep(2)
        print_packets(lab, port)
        print("== starting drfwd on %s again" % victim, flush=True)
        t = time.time()
        lab.start_director(victim)
        took = wait_for(back, 10, 0.02) and time.time() - t
        print("   back after %.2fs" % took if took else "   NOT back after 10 s", flush=True)
        time.sleep(2)
        print_packets(lab, port)
    finally:
        rep = ll.finish()
    print("== the client's report", flush=True)
    report_longlived(rep)


def echo_words(lab):
    return " and ".join("tcp %d %s" % ps for ps in lab.echo_services)


def demo_vrrp(args):
    lab = SyncVrrpLab(prefix=args.prefix) if args.sync else VrrpLab(prefix=args.prefix)
    print("== building the VRRP lab (namespaces %s-*): two directors, keepalived on drfwd0" % args.prefix, flush=True)
    try:
        lab.up()
        print("   traffic flows after %.1fs" % lab.marks["traffic"])
        print("== lb1's keepalived.conf:")
        print("".join("   " + line for line in lab.keepalived_conf("lb1").splitlines(True)), flush=True)
        print("== drfwd on each director: %s and the plain lab's ipvsadm lines, plus %s"
              % (", ".join("`%s`" % line for line in lab.mode_lines().splitlines()), echo_words(lab)))
        master = lab.masters()[0]
        other = [r for r in lab.directors if r != master][0]
        print("== VRRP master: %s (the VIP is on its drfwd0); drfwd announces the VIP: %s" %
              (master, ", ".join("%s %s" % (r, lab.announced(r)) for r in lab.directors)), flush=True)
        demo_failover(lab, master, lambda: lab.masters() == [other], lambda: lab.masters() == [master])
    finally:
        print("== tearing the lab down", flush=True)
        lab.down()


def demo_ecmp(args):
    lab = SyncEcmpLab(prefix=args.prefix, directors=args.ecmp) if args.sync else \
        EcmpLab(prefix=args.prefix, directors=args.ecmp)
    print("== building the ECMP lab (namespaces %s-*): a BGP router, %d directors" % (args.prefix, args.ecmp),
          flush=True)
    try:
        lab.up()
        print("   traffic flows after %.1fs" % lab.marks["traffic"])
        print("== drfwd on each director: %s and the plain lab's ipvsadm lines, plus %s"
              % (", ".join("`%s`" % line for line in lab.mode_lines().splitlines()), echo_words(lab)))
        print("== the router's BGP sessions: %s" % ", ".join("%s %s" % kv for kv in sorted(lab.sessions().items())))
        print("== the router's route to the VIP:")
        print("".join("   " + l for l in lab.run("rt", "ip", "route", "show", lab.vip).stdout.splitlines(True)),
              end="", flush=True)
        victim = "lb1"
        dips = lab.nexthops()
        demo_failover(lab, victim, lambda: lab.dip(victim) not in lab.nexthops(), lambda: lab.nexthops() == dips)
    finally:
        print("== tearing the lab down", flush=True)
        lab.down()


def status(args):
    try:
        lab = Lab.load(args.prefix)
    except OSError:
        print("no lab %r is up" % args.prefix)
        return 1
    print("%s lab, namespaces: %s" % (lab.kind, " ".join(lab.namespaces)))
    for role, pid in lab.pids.items():
        alive = os.path.exists("/proc/%d" % pid)
        print("  %-16s pid %-7d %s" % (role, pid, "running" if alive else "gone"))
    if isinstance(lab, VrrpLab):
        print("VRRP master (VIP %s on drfwd0): %s" % (lab.vip, " ".join(lab.masters()) or "none"))
    if isinstance(lab, EcmpLab):
        print("router's next hops for %s: %s" % (lab.vip, " ".join(lab.nexthops()) or "none"))
        print(lab.bird_status(), end="")
    if isinstance(lab, (VlanLab, Ipv6Lab, KeepalivedLab)):
        print(lab.status_lines(), end="")
    print("last lines of drfwd's log:\n" + lab.tail_log(10))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=("up", "demo", "status", "down"))
    ap.add_argument("--prefix", default="drfwd")
    kind = ap.add_mutually_exclusive_group()
    kind.add_argument("--two-port", action="store_true")
    kind.add_argument("--vrrp", action="store_true", help="two directors, keepalived VRRP")
    kind.add_argument("--ecmp", type=int, nargs="?", const=2, metavar="N",
                      help="N directors (default 2) behind a BGP/ECMP router")
    kind.add_argument("--vlan", action="store_true",
                      help="drfwd's port as an 802.1Q trunk: clients on VLAN 10, real servers on VLAN 20")
    kind.add_argument("--ipv6", action="store_true",
                      help="the one-port lab dual-stack: an IPv6 VIP, DIP and real servers in 2001:2::/64")
    kind.add_argument("--keepalived", action="store_true",
                      help="the one-port lab configured from docs/examples/keepalived.conf, with a sorry server")
    ap.add_argument("--sync", action="store_true",
                    help="with --vrrp or --ecmp: connection sync, rr and persistent echo services")
    ap.add_argument("--metrics", metavar="ADDR:PORT",
                    help="up, the one- or two-port lab: drfwd --metrics ADDR:PORT (in the lb namespace)")
    args = ap.parse_args()
    if args.sync and not (args.action in ("up", "demo") and (args.vrrp or args.ecmp)):
        ap.error("--sync goes with up or demo, and --vrrp or --ecmp")
    if os.geteuid() != 0:
        sys.exit("lab: run as root (network namespaces)")
    if args.action == "up":
        if args.vrrp or args.ecmp:
            if args.sync:
                lab = SyncVrrpLab(prefix=args.prefix) if args.vrrp else \
                    SyncEcmpLab(prefix=args.prefix, directors=args.ecmp)
            else:
                lab = VrrpLab(prefix=args.prefix) if args.vrrp else EcmpLab(prefix=args.prefix, directors=args.ecmp)
        elif args.vlan:
            lab = VlanLab(prefix=args.prefix)
        elif args.ipv6:
            lab = Ipv6Lab(prefix=args.prefix)
        elif args.keepalived:
            lab = KeepalivedLab(prefix=args.prefix)
        else:
            lab = Lab(prefix=args.prefix, two_port=args.two_port,
                      drfwd_args=["--metrics", args.metrics] if args.metrics else ())
        lab.up()
        if lab.kind in ("vlan", "ipv6", "keepalived"):
            print("built in %.1fs" % lab.ready_after)
            print(lab.status_lines(), end="")
        elif lab.kind != "plain":
            print("built in %.1fs: %s" % (time.time() - lab.t0, ", ".join("%s %.1fs" % kv for kv in lab.marks.items())))
        print("lab %s is up: try  ip netns exec %s curl http://%s/" % (args.prefix, lab.ns("client"), lab.vip))
        if lab.kind == "ipv6":
            print("            and  ip netns exec %s curl -6 -g http://[%s]/" % (lab.ns("client"), lab.vip6))
        return 0
    if args.action == "demo":
        if args.vrrp:
            demo_vrrp(args)
        elif args.ecmp:
            demo_ecmp(args)
        else:
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
