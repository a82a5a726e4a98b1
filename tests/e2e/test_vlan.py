"""e2e tier, VLANs: drfwd's one port (af_packet) as an 802.1Q trunk (tools/lab.py
VlanLab): the client on VLAN 10, the real servers on VLAN 20, drfwd with a VLAN
interface and DIP on each (`port 0 vlan 10|20 address ...`, kernel devices drfwd0.10
and drfwd0.20), a router carrying the real servers' replies, and a stranger on VLAN 30
that the trunk carries but drfwd has no interface for. No static neighbour anywhere.
Each test builds its own lab (its own namespaces, addresses in 198.18.0.0/15) and
deletes it, also when it fails."""
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections import Counter

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(TOP, "tools"))
import lab as L  # noqa: E402
from drfwdtest import check, drfwd_binary  # noqa: E402
from test_lab import answers, stop_and_check_drfwd  # noqa: E402

VIP = L.VLAN_VIP
RS1, RS2 = "198.18.20.11", "198.18.20.12"
DIP10, DIP20 = L.VlanLab.DIPS[10], L.VlanLab.DIPS[20]
_count = [0]


def new_lab():
    _count[0] += 1
    return L.VlanLab(prefix="dfv%d-%d" % (os.getpid() % 100000, _count[0]), drfwd=drfwd_binary(),
                     log=lambda *a: None)


def table(text, first):
    """The rows of a drfwdctl table whose header line starts with `first`: a list of
    {COLUMN: word} (a row's words taken in the header's order)."""
    rows, head = [], None
    for line in text.splitlines():
        w = line.split()
        if w[:1] == [first]:
            head = w
        elif head and w:
            rows.append(dict(zip(head, w)))
    return rows


def rs_table(lab):
    """`show rs`: RS address -> its row (WEIGHT, HEALTH, NEIGH, MAC, PACKETS, ...)."""
    r = lab.ctl("show", "rs")
    check(r.returncode == 0, "show rs: %s" % r.stderr)
    return {row["RS"]: row for row in table(r.stdout, "RS")}


def wait_health(lab, rip, want, timeout=5.0):
    return L.wait_for(lambda: rs_table(lab).get(rip, {}).get("HEALTH") == want, timeout, 0.1)


def drops(stats, reason):
    return stats["totals"]["drops"].get(reason, 0)


def vlan_drops_now(lab):
    """vlan-unknown and vlan-double on port 0 so far (show stats), to compare a test's own
    traffic against: a stray frame at the lab's start is not the test's."""
    text = lab.ctl("show", "stats").stdout
    got = {}
    for reason in ("vlan-unknown", "vlan-double"):
        m = re.search(r"\b%s (\d+)" % reason, text)
        got[reason] = int(m.group(1)) if m else 0
    return got


class Capture:
    """tcpdump -e in a namespace of the lab, from the moment it listens until stop()."""

    def __init__(self, lab, role, iface, bpf):
        self.proc = subprocess.Popen(["ip", "netns", "exec", lab.ns(role), "tcpdump", "-i", iface, "-e", "-nn", "-t",
                                      "-l", "-U", bpf], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # Until tcpdump says it listens (read unbuffered: select() knows nothing of a
        # Python buffer's contents).
        deadline, err = time.time() + 10, b""
        while b"listening on" not in err and time.time() < deadline and self.proc.poll() is None:
            if select.select([self.proc.stderr], [], [], 0.2)[0]:
                err += os.read(self.proc.stderr.fileno(), 4096)
        if b"listening on" not in err:
            self.stop()
            raise AssertionError("tcpdump did not start: %s" % err.decode(errors="replace"))

    def stop(self):
        """Stops tcpdump; returns the lines it printed."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            out, _ = self.proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        return [line for line in out.decode(errors="replace").splitlines() if line.strip()]


# tcpdump -e -nn -t, an 802.1Q frame: "SRC > DST, ethertype 802.1Q (0x8100), length N: vlan V, p P, ethertype ..."
TAGGED = re.compile(r"^([0-9a-f:]{17}) > ([0-9a-f:]{17}), ethertype 802\.1Q \(0x8100\), length \d+: "
                    r"vlan (\d+), p \d, ethertype (\S+)")


def learned_neighbours(lab):
    """show neigh, checked to hold no static entry, and its rows by address."""
    r = lab.ctl("show", "neigh")
    check(r.returncode == 0, "show neigh: %s" % r.stderr)
    check("static" not in r.stdout, "a static neighbour:\n" + r.stdout)
    return r, {row.get("IP", row.get("ADDRESS")): row for row in table(r.stdout, "IP") + table(r.stdout, "ADDRESS")}


def test_vlan_round_robin_tags_and_neighbours():
    """40 requests from VLAN 10 alternate between the two real servers on VLAN 20; on the
    trunk, every frame drfwd sends to a real server is tagged 20, from drfwd's MAC;
    drfwd resolved both servers by ARP on VLAN 20 (no static entry)."""
    with new_lab() as lab:
        lb_mac = lab.mac("lb")
        rs_mac = {RS1: lab.mac("rs1"), RS2: lab.mac("rs2")}
        # The switch's end of drfwd's veth: frames to the RSs' MACs, as they leave drfwd.
        before = vlan_drops_now(lab)
        cap = Capture(lab, "sw", lab.TRUNK, "ether dst %s or ether dst %s" % (rs_mac[RS1], rs_mac[RS2]))
        try:
            got = answers(lab, 40)
            time.sleep(0.2)
        finally:
            frames = cap.stop()
        check(Counter(got) == Counter({"RS1": 20, "RS2": 20}), "40 requests: %s" % Counter(got))
        check(all(a != b for a, b in zip(got, got[1:])), "not in turn: %s" % got)
        to_vip = {RS1: 0, RS2: 0}
        for line in frames:
            m = TAGGED.match(line)
            check(m and m.group(3) == "20", "a frame to a real server on the trunk is not tagged 20:\n%s" % line)
            check(m.group(1) == lb_mac, "a frame to a real server not from drfwd's MAC %s:\n%s" % (lb_mac, line))
            if m.group(4) == "IPv4" and " > %s.80:" % VIP in line:
                to_vip[[ip for ip, mac in rs_mac.items() if mac == m.group(2)][0]] += 1
        # At least SYN, request and ACK/FIN per connection (20 per server).
        check(to_vip[RS1] >= 60 and to_vip[RS2] >= 60, "requests to the VIP seen on the trunk, tagged 20: %s\n%s"
              % (to_vip, "\n".join(frames[:10])))
        print("trunk: %d frames to the real servers, all tagged 20; to VIP:80 per RS %s" % (len(frames), to_vip))

        r, neigh = learned_neighbours(lab)
        for rip in (RS1, RS2):
            row = neigh.get(rip, {})
            check(row.get("VLAN") == "20" and row.get("STATE") == "reachable" and row.get("MAC") == rs_mac[rip],
                  "%s not resolved on VLAN 20 (%s):\n%s" % (rip, rs_mac[rip], r.stdout))
        print(r.stdout)

        stats = stop_and_check_drfwd(lab)
        svc = stats["services"][0]
        check({rs["ip"]: rs["health"] for rs in svc["real_servers"]} == {RS1: "up", RS2: "up"},
              "health %s" % svc["real_servers"])
        nb = {n["ip"]: n for n in stats["neighbours"]}
        for rip in (RS1, RS2):
            check(nb.get(rip, {}).get("state") == "reachable" and nb[rip].get("vlan") == 20,
                  "neighbour %s in the JSON: %s" % (rip, nb.get(rip)))
        check(drops(stats, "vlan-unknown") == before["vlan-unknown"] and
              drops(stats, "vlan-double") == before["vlan-double"],
              "VLAN drops from traffic on VLANs 10 and 20: %s (before it: %s)" % (stats["totals"]["drops"], before))


def test_vlan_kernel_interfaces_and_ping():
    """drfwd0.10 and drfwd0.20, drfwd's TAPs for its VLAN interfaces (this kernel has no
    802.1Q devices), hold the DIPs with the port's MAC in the director's namespace; the
    client pings the VLAN 10 DIP, the router and a real server the VLAN 20 DIP; the
    kernel reaches the real servers (health checks) through drfwd0.20; the client
    resolves the VIP and the DIP on VLAN 10 to drfwd's MAC."""
    with new_lab() as lab:
        lb_mac = lab.mac("lb")
        link = lab.run("lb", "ip", "-d", "link").stdout
        vlans = lab.kernel_vlans()
        check(sorted(vlans) == ["drfwd0.10", "drfwd0.20"], "drfwd's VLAN interfaces: %s\n%s" % (sorted(vlans), link))
        for name, dip in (("drfwd0.10", DIP10), ("drfwd0.20", DIP20)):
            v = vlans[name]
            check(v["kind"] == "tap" and v["mac"] == lb_mac and v["addresses"] == [dip + "/24"],
                  "%s is not a TAP with %s/24 and the port's MAC %s: %s\n%s" % (name, dip, lb_mac, v, link))
        print("kernel interfaces: %s" % vlans)
        for src in ("rs1", "rs2"):
            r = lab.run("lb", "ip", "route", "get", lab.rs[src])
            check(" dev drfwd0.20 " in r.stdout and " src %s " % DIP20 in r.stdout,
                  "the kernel does not reach %s through drfwd0.20: %s" % (lab.rs[src], r.stdout + r.stderr))
        for role, dip in (("client", DIP10), ("rt", DIP20), ("rs1", DIP20)):
            r = lab.run(role, "ping", "-c", "3", "-i", "0.2", "-W", "2", dip)
            check(r.returncode == 0 and " 0% packet loss" in r.stdout, "%s pings %s:\n%s" % (role, dip, r.stdout))
            check("duplicates" not in r.stdout, "%s pings %s, duplicate replies:\n%s" % (role, dip, r.stdout))
        for target in (VIP, DIP10):
            r = lab.run("client", "arping", "-c", "2", "-w", "3", "-I", "eth0", target)
            macs = {m.lower() for m in re.findall(r"\[([0-9A-Fa-f:]{17})\]", r.stdout)}
            check(r.returncode == 0 and macs == {lb_mac}, "arping %s on VLAN 10: %s\n%s" % (target, macs, r.stdout))
        stats = stop_and_check_drfwd(lab)
        check(stats["control"]["to_kernel"] > 0 and stats["control"]["from_kernel"] > 0, "exception path unused")


def test_vlan_failover_and_recovery():
    """nginx stopped on RS2: the HTTP check (from drfwd0.20) takes it out and every request
    goes to RS1; started again: it comes back and the requests alternate again."""
    with new_lab() as lab:
        check(set(answers(lab, 4)) == {"RS1", "RS2"}, "not balanced before the test")
        t = time.time()
        lab.stop_nginx("rs2")
        check(wait_health(lab, RS2, "down"), "RS2 not down after 5 s: %s" % rs_table(lab).get(RS2))
        print("RS2 down after %.2fs" % (time.time() - t))
        got = answers(lab, 10)
        check(got == ["RS1"] * 10, "after RS2 stopped: %s" % Counter(got))
        t = time.time()
        lab.start_nginx("rs2")
        check(wait_health(lab, RS2, "up"), "RS2 not up after 5 s: %s" % rs_table(lab).get(RS2))
        print("RS2 up after %.2fs" % (time.time() - t))
        got = answers(lab, 10)
        check(Counter(got) == Counter({"RS1": 5, "RS2": 5}), "after RS2 came back: %s" % Counter(got))
        log = lab.tail_log(400)
        check(re.search(r"health: .*198\.18\.20\.12 is down", log), "down not logged:\n" + log)
        check(re.search(r"health: .*198\.18\.20\.12 is up", log), "up not logged:\n" + log)
        stop_and_check_drfwd(lab)


def test_vlan_unknown_is_dropped():
    """The stranger on VLAN 30 (carried by the trunk, no VLAN interface in drfwd): its ARP
    for the VIP is not answered, 20 SYNs it sends straight to drfwd's MAC reach no real
    server, and all of it is counted `vlan-unknown`."""
    with new_lab() as lab:
        before = {rip: int(row["PACKETS"]) for rip, row in rs_table(lab).items()}
        r = lab.run("stranger", "curl", "-s", "--max-time", "1", "http://%s/" % VIP)
        check(r.returncode != 0, "the stranger on VLAN 30 got an answer: %s" % r.stdout)
        r = lab.run("stranger", "arping", "-c", "2", "-w", "2", "-I", "eth0", VIP)
        check("reply from" not in r.stdout, "ARP for the VIP answered on VLAN 30:\n" + r.stdout)
        sent = lab.stranger_syns(20)
        time.sleep(0.3)
        after = {rip: int(row["PACKETS"]) for rip, row in rs_table(lab).items()}
        check(after == before, "packets to the real servers changed: %s -> %s" % (before, after))
        stats = stop_and_check_drfwd(lab)
        unknown = drops(stats, "vlan-unknown")
        # The SYNs, and the ARP requests of curl and arping (at least one each).
        check(unknown >= sent + 2, "vlan-unknown %d after %d SYNs and ARP from VLAN 30: %s"
              % (unknown, sent, stats["totals"]["drops"]))
        check(stats["ports"][0]["drops"].get("vlan-unknown", 0) == unknown, "port 0's drops: %s" % stats["ports"][0])
        print("vlan-unknown: %d (20 SYNs and the stranger's ARP)" % unknown)
