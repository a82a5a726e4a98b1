"""e2e tier: drfwd as the director of an LVS-DR lab in network namespaces, with real
nginx and a UDP echo on the real servers (tools/lab.py). Every test builds its own lab
(its own namespaces) and deletes it, also when it fails."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(TOP, "tools"))
import lab as L  # noqa: E402
from drfwdtest import check, drfwd_binary  # noqa: E402
from directors import adopt_orphans, unharmed  # noqa: E402

adopt_orphans()  # nginx's stops take milliseconds, not seconds

_count = [0]
METRICS = "127.0.0.1:9520"  # drfwd --metrics, on the loopback of the lab's lb namespace


def new_lab(two_port=False):
    _count[0] += 1
    return L.Lab(prefix="dfe%d-%d" % (os.getpid() % 100000, _count[0]), two_port=two_port, drfwd=drfwd_binary(),
                 log=lambda *a: None, drfwd_args=["--metrics", METRICS])


def answers(lab, n):
    return [lab.curl() for _ in range(n)]


def stop_and_check_drfwd(lab):
    rc = lab.stop_drfwd()
    check(rc == 0, "drfwd exit status %s\n%s" % (rc, lab.tail_log()))
    with open(lab.stats_json) as f:
        stats = json.load(f)
    check(stats["mbufs_leaked"] == 0, "mbufs leaked: %d" % stats["mbufs_leaked"])
    check(stats["conn_tables_consistent"], "connection table inconsistent")
    return stats


def prometheus_stores_the_series(lab, url, t0):
    """A real Prometheus server (Debian's, started at t0 by the caller) scraping drfwd
    every second in the lb namespace stores every real server's packet counter, with
    node_exporter's labels."""
    def series():
        res = lab.prometheus_query("lb", url, 'drfwd_backend_packets_total{proto="TCP"}') or []
        return {r["metric"]["remote_address"]: (r["metric"], float(r["value"][1])) for r in res}
    got = L.wait_for(lambda: (lambda s: s if len(s) == 2 and all(v > 0 for _, v in s.values()) else None)(series()),
                     20, step=0.2)
    check(got, "Prometheus has no drfwd_backend_packets_total series: %s\n%s" % (series(), lab.tail_log()))
    for rs in ("198.18.0.11", "198.18.0.12"):
        labels = got[rs][0]
        check(labels["local_address"] == L.VIP and labels["local_port"] == "80" and labels["remote_port"] == "80"
              and labels["job"] == "drfwd", "series of %s: %s" % (rs, got[rs]))
    active = lab.prometheus_query("lb", url, "drfwd_ipvs_backend_connections_active") or []
    check(len(active) == 4, "drfwd_ipvs_backend_connections_active: %s" % active)  # 2 services x 2 RSs
    print("Prometheus started and stored drfwd's series in %.1f s" % (time.time() - t0))


def test_round_robin():
    with new_lab() as lab:
        t0 = time.time()
        url = lab.start_prometheus("lb", [METRICS])  # starting while the requests run
        try:
            got = answers(lab, 40)
            check(Counter(got) == Counter({"RS1": 20, "RS2": 20}), "40 requests: %s" % Counter(got))
            prometheus_stores_the_series(lab, url, t0)
        finally:
            lab.stop("lb-prometheus")
        stats = stop_and_check_drfwd(lab)
        svc = [s for s in stats["services"] if s["proto"] == "tcp"][0]
        h = {r["ip"]: r["health"] for r in svc["real_servers"]}
        check(set(h.values()) == {"up"}, "health %s" % h)
        states = {n["ip"]: n["state"] for n in stats["neighbours"]}
        check(states.get("198.18.0.11") == "reachable" and states.get("198.18.0.12") == "reachable",
              "neighbours %s" % states)


def last_health(lab, rs_ip):
    """The last health change drfwd logged for rs_ip: "up", "down" or None."""
    with open(lab.drfwd_log) as f:
        changes = re.findall(r"health: .*%s is (up|down)" % re.escape(rs_ip), f.read())
    return changes[-1] if changes else None


def test_failover_and_recovery():
    with new_lab() as lab:
        check(set(answers(lab, 4)) == {"RS1", "RS2"}, "not balanced before the test")
        lab.stop_nginx("rs2")
        # the detection window: 2 s
        check(L.wait_for(lambda: last_health(lab, "198.18.0.12") == "down", 2.0), "RS2 not taken out within 2 s")
        got = answers(lab, 20)
        check(got == ["RS1"] * 20, "after RS2 stopped: %s" % Counter(got))
        lab.start_nginx("rs2")
        # the recovery window: 3 s
        check(L.wait_for(lambda: last_health(lab, "198.18.0.12") == "up", 3.0), "RS2 not back within 3 s")
        got = answers(lab, 20)
        check(Counter(got) == Counter({"RS1": 10, "RS2": 10}), "after RS2 came back: %s" % Counter(got))
        log = lab.tail_log(400)
        check(re.search(r"health: .*198\.18\.0\.12 is down \(refused\)", log), "down not logged")
        check(re.search(r"health: .*198\.18\.0\.12 is up", log), "up not logged")
        stop_and_check_drfwd(lab)


UDP_CLIENT = r"""
import json, socket, sys
out = {}
for sport in range(41000, 41000 + int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("198.18.0.1", sport))
    s.settimeout(2)
    got = []
    for i in range(5):
        s.sendto(b"ping %d" % i, ("198.18.0.100", 5353))
        data, peer = s.recvfrom(200)
        assert peer == ("198.18.0.100", 5353), peer
        got.append(data.decode().split()[0])
    out[sport] = got
print(json.dumps(out))
"""


def test_udp_balanced_and_sticky():
    with new_lab() as lab:
        r = lab.run("client", L.PY, "-c", UDP_CLIENT, "20", check=True)
        flows = json.loads(r.stdout)
        check(all(len(set(v)) == 1 for v in flows.values()), "a UDP flow moved between RSs: %s" % flows)
        per_rs = Counter(v[0] for v in flows.values())
        check(per_rs == Counter({"RS1": 10, "RS2": 10}), "UDP flows per RS: %s" % per_rs)
        stop_and_check_drfwd(lab)


def test_exception_path_and_arp():
    with new_lab() as lab:
        lb_mac = lab.run("lb", "cat", "/sys/class/net/eth0/address", check=True).stdout.strip().lower()
        # echo requests 0.2 s apart, not 1 s: an answer (or a duplicate) comes within
        # milliseconds
        r = lab.run("client", "ping", "-c", "3", "-i", "0.2", "-W", "2", "198.18.0.2")
        check(r.returncode == 0 and " 0% packet loss" in r.stdout, "ping DIP:\n" + r.stdout)
        check("duplicates" not in r.stdout, "duplicate ping replies:\n" + r.stdout)
        for target in ("198.18.0.100", "198.18.0.2"):
            r = lab.run("client", "arping", "-c", "2", "-w", "3", "-I", "eth0", target)
            macs = {m.lower() for m in re.findall(r"\[([0-9A-Fa-f:]{17})\]", r.stdout)}
            check(r.returncode == 0 and macs == {lb_mac}, "arping %s: %s\n%s" % (target, macs, r.stdout))
            check(len(re.findall(r"reply from", r.stdout)) == 2, "arping %s: not one reply per probe\n%s" % (target, r.stdout))
        # Neither a VIP nor a DIP: no answer from anyone.
        r = lab.run("client", "arping", "-c", "2", "-w", "3", "-I", "eth0", "198.18.0.77")
        check(r.returncode != 0 and "reply from" not in r.stdout, "198.18.0.77 was answered:\n" + r.stdout)
        stats = stop_and_check_drfwd(lab)
        check(stats["control"]["to_kernel"] > 0 and stats["control"]["from_kernel"] > 0, "exception path unused")


def test_two_ports_replies_bypass_drfwd():
    with new_lab(two_port=True) as lab:
        def forwarded():
            snmp = lab.run("rt", "cat", "/proc/net/snmp", check=True).stdout.splitlines()
            head, vals = [l.split() for l in snmp if l.startswith("Ip:")][:2]
            return int(vals[head.index("ForwDatagrams")])
        before = forwarded()
        got = answers(lab, 20)
        check(Counter(got) == Counter({"RS1": 10, "RS2": 10}), "two ports: %s" % Counter(got))
        check(forwarded() - before >= 20 * 3, "replies did not go through the router (%d)" % (forwarded() - before))
        stats = stop_and_check_drfwd(lab)
        ports = {p["id"]: p for p in stats["ports"]}
        check(ports[0]["forwarded"] == 0 and ports[1]["forwarded"] > 0,
              "forwarded out of the wrong port: %s" % {i: p["forwarded"] for i, p in ports.items()})
        check(ports[1]["received"] < ports[0]["received"], "RS replies came back through drfwd")



def test_path_mtu_discovery_through_drfwd():
    """The router between the real servers and the client has a 1000-byte MTU towards the
    client. Replies (from the VIP, 1500 bytes, DF) make it send "fragmentation needed"
    to the VIP, i.e. to drfwd, which must pass it to the real server of that
    connection; otherwise a large download stalls in a PMTU black hole."""
    with new_lab(two_port=True) as lab:
        for role in ("rs1", "rs2"):
            path = os.path.join(lab.dir, role, "www", "big.bin")
            with open(path, "wb") as f:
                f.write(os.urandom(300000))
            os.chmod(path, 0o644)
        L.sh("ip", "link", "set", "eth0", "mtu", "1000", ns=lab.ns("rt"))
        for i in range(4):
            r = lab.run("client", "curl", "-s", "-o", "/dev/null", "-w", "%{size_download}", "--max-time", "10",
                        "http://%s/big.bin" % L.VIP, timeout=20)
            check(r.returncode == 0 and r.stdout.strip() == "300000",
                  "download %d: curl exit %d, %s bytes\n%s" % (i, r.returncode, r.stdout, lab.tail_log()))
        stats = stop_and_check_drfwd(lab)
        forwarded = sum(w["icmp_forwarded"] for w in stats["workers"])
        check(forwarded >= 2, "ICMP errors forwarded: %d" % forwarded)
        drops = stats["totals"]["drops"]
        check(drops.get("icmp-no-conn", 0) == 0, "ICMP errors dropped: %s" % drops)


def notifications(sock):
    """What drfwd told systemd (sd_notify datagrams on our NOTIFY_SOCKET) since last time."""
    got = []
    while True:
        try:
            got.append(sock.recv(4096).decode())
        except BlockingIOError:
            return got


def wait_log(lab, pattern, start, timeout=5.0):
    """The first line matching pattern that drfwd logged after offset `start` of its log."""
    def find():
        with open(lab.drfwd_log) as f:
            f.seek(start)
            m = re.search(pattern, f.read(), re.M)
        return m.group(0) if m else None
    return L.wait_for(find, timeout) and find()


def test_reload_under_traffic():
    """SIGHUP (systemctl reload) under long-lived connections: a new service appears, a
    changed scheduler and weights take effect, a file in error changes nothing, a reload
    that changes nothing touches nothing; no connection is reset or moved, no health state
    is lost (keepalived#1228, #1720), and systemd hears RELOADING=1 / READY=1 around each."""
    import socket
    notify_path = os.path.join("/tmp", "drfwd-notify-%d.sock" % os.getpid())
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.setblocking(False)
    os.environ["NOTIFY_SOCKET"] = notify_path  # drfwd (started by the lab) inherits it
    try:
        with new_lab() as lab:
            del os.environ["NOTIFY_SOCKET"]
            check(any("READY=1" in n for n in notifications(notify)), "no READY=1 from drfwd")
            for role in ("rs1", "rs2"):
                lab.spawn(role + "-echo", role, [L.PY, os.path.join(TOP, "tools", "tcp_echo.py"), role.upper(), "7"])
            # Until both listen (Python starts in some 0.1 s, longer on a busy machine: a
            # connection scheduled to a server not yet listening is refused).
            def listens(role):
                return subprocess.run(["ip", "netns", "exec", lab.ns(role), "ss", "-Hltn", "sport = :7"],
                                      capture_output=True, text=True).stdout.strip()
            for role in ("rs1", "rs2"):
                check(L.wait_for(lambda: listens(role), 10), "%s's line echo does not listen on port 7" % role)
            with open(lab.config) as f:
                base = f.read()
            # tcp 7: the line echo, for the long-lived connections; tcp 8: nothing listens,
            # both servers go down and must stay down (their checks kept) across reloads.
            echo = "ipvsadm -A -t {vip}:7 -s rr\nipvsadm -a -t {vip}:7 -r {rs1}:7 -g\n" \
                   "ipvsadm -a -t {vip}:7 -r {rs2}:7 -g\n" \
                   "ipvsadm -A -t {vip}:8 -s rr\nipvsadm -a -t {vip}:8 -r {rs1}:8 -g\n" \
                   "ipvsadm -a -t {vip}:8 -r {rs2}:8 -g\n".format(vip=L.VIP, **lab.rs)
            down = r"health: tcp %s:8 -> (198\.18\.0\.1[12]) is (up|down)" % re.escape(L.VIP)

            def reload(text, expect):
                with open(lab.config, "w") as f:
                    f.write(text)
                start = os.path.getsize(lab.drfwd_log)
                lab.lb.proc.send_signal(signal.SIGHUP)
                line = wait_log(lab, expect, start)
                check(line, "after SIGHUP, no '%s' in the log:\n%s" % (expect, lab.tail_log()))
                states = L.wait_for(lambda: (lambda n: n if any("READY=1" in x for x in n) else None)(
                    notifications(notify)), 2)
                check(states and states[0].startswith("RELOADING=1"), "systemd heard %s" % states)
                with open(lab.drfwd_log) as f:
                    f.seek(start)
                    return f.read()

            reload(base + echo, r"reload: 6 change\(s\) applied")
            check(L.wait_for(lambda: "198.18.0.12:7" in lab.ctl("ipvsadm", "-L", "-n").stdout, 2), "no echo service")
            ll = L.LongLived(lab, 7, 20, 0, 0)
            check(ll.ready(), "long-lived connections not established")

            def port8_changes():
                with open(lab.drfwd_log) as f:
                    return re.findall(down, f.read())
            check(L.wait_for(lambda: sorted(port8_changes()) == [("198.18.0.11", "down"), ("198.18.0.12", "down")], 5),
                  "the port-8 servers did not go down: %s" % port8_changes())
            health_before = lab.ctl("show", "rs").stdout

            # The web service goes wrr 3:1 (two changes); the echo service stays.
            changed = base.replace("-s rr", "-s wrr", 1).replace(
                "-r %s:80 -g" % lab.rs["rs1"], "-r %s:80 -g -w 3" % lab.rs["rs1"])
            log = reload(changed + echo, r"reload: 2 change\(s\) applied")
            check("health:" not in log, "a reload touched health state:\n" + log)
            got = answers(lab, 40)
            check(Counter(got) == Counter({"RS1": 30, "RS2": 10}), "wrr 3:1 after the reload: %s" % Counter(got))

            # A file in error: refused with file:line, nothing changes.
            log = reload(changed + echo + "ipvsadm -a -t %s:80 -r 198.18.0.13:80 -g -w 70000\n" % L.VIP,
                         r"reload refused, nothing changed: .*drfwd\.conf:\d+: .*")
            check("applied" not in log, "a refused reload applied something:\n" + log)
            got = answers(lab, 8)
            check(Counter(got) == Counter({"RS1": 6, "RS2": 2}), "after the refused reload: %s" % Counter(got))

            # The same file again: nothing applied, nothing re-checked.
            log = reload(changed + echo, r"reload: configuration unchanged")
            check("health:" not in log, "an empty reload touched health state:\n" + log)
            health_after = lab.ctl("show", "rs").stdout
            check(len(port8_changes()) == 2, "a reload restarted the port-8 checks: %s" % port8_changes())
            rs8 = re.search(r"tcp %s:8 .*?(?=\ntcp |\Z)" % re.escape(L.VIP), health_after, re.S)
            check(rs8 and len(re.findall(r"\b(down)\b", rs8.group(0))) == 2, "port 8 after the reloads:\n" + health_after)

            unharmed(ll.finish(), "20 long-lived connections across four reloads")
            print("show rs before the reloads:\n%s\nafter:\n%s" % (health_before, health_after))
            stop_and_check_drfwd(lab)
            check(any("STOPPING=1" in n for n in notifications(notify)), "no STOPPING=1 from drfwd")
    finally:
        os.environ.pop("NOTIFY_SOCKET", None)
        notify.close()
        os.unlink(notify_path)
