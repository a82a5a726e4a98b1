"""--metrics against a running drfwd: known traffic in over net_pcap, the /metrics page
scraped over HTTP and checked by Prometheus' own `promtool check metrics`, and its
values against the traffic (per real server, drops by reason). drfwd runs in a network
namespace of the test's own (its loopback only: no traffic leaves it), deleted after,
also on failure. Root and promtool are needed, else the tests are skipped."""
import os
import re
import shutil
import subprocess
import time

import pytest
from scapy.all import IP, TCP, Ether

import harness as h

VIP = "198.18.1.10"
PORT = 19100
CONF = ("port 0 address 198.18.0.2/24\n"
        "vip add %s tcp 80 sched rr\nrs add %s tcp 80 198.18.0.11\nrs add %s tcp 80 198.18.0.12\n"
        "neigh add 198.18.0.11 02:00:00:00:00:11\nneigh add 198.18.0.12 02:00:00:00:00:12\n") % (VIP, VIP, VIP)
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def needs_root_and_promtool():
    if os.geteuid() != 0:
        pytest.skip("needs root (a network namespace of its own)")
    if not os.access(PROMTOOL, os.X_OK):
        pytest.skip("promtool not installed (Debian's prometheus package)")


def frames():
    e = Ether(src=h.CLIENT_MAC, dst=h.PORT_MAC)
    syns = [e / IP(src="198.18.2.1", dst=VIP) / TCP(sport=30000 + i, dport=80, flags="S") for i in range(30)]
    no_service = [e / IP(src="198.18.2.1", dst="198.18.1.99") / TCP(sport=40000 + i, dport=80, flags="S")
                  for i in range(3)]
    bad_sum = [e / IP(src="198.18.2.1", dst=VIP, chksum=0x1234) / TCP(sport=50000 + i, dport=80, flags="S")
               for i in range(2)]
    return syns + no_service + bad_sum


class Namespace:
    def __init__(self):
        self.name = "drfwd-metrics-%d" % os.getpid()

    def __enter__(self):
        subprocess.run(["ip", "netns", "add", self.name], check=True, capture_output=True)
        try:
            subprocess.run(["ip", "-n", self.name, "link", "set", "lo", "up"], check=True, capture_output=True)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)

    def run(self, *cmd, **kw):
        return subprocess.run(["ip", "netns", "exec", self.name] + list(cmd), capture_output=True, text=True,
                              timeout=30, **kw)


def scrape(ns, path="/metrics", *curl_args):
    return ns.run("curl", "-sS", "--max-time", "5", "-D", "-", *curl_args, "http://127.0.0.1:%d%s" % (PORT, path))


def split(answer):
    # (subprocess's text mode has turned every CRLF into LF)
    head, _, body = answer.partition("\n\n")
    return head, body


def samples(body):
    """name{labels} -> value."""
    out = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def backend(rs):
    return '{local_address="%s",local_port="80",remote_address="%s",remote_port="80",proto="TCP"}' % (VIP, rs)


def test_scrape_is_clean_and_counts_the_traffic():
    needs_root_and_promtool()
    with Namespace() as ns:
        d = h.Drfwd(CONF, rx=frames(), extra=["--metrics", "127.0.0.1:%d" % PORT], name="metrics")
        d.cmd = ["ip", "netns", "exec", ns.name] + d.cmd
        with d:
            d.wait_rx(35)
            want = {"drfwd_backend_packets_total" + backend("198.18.0.11"): 15,
                    "drfwd_backend_packets_total" + backend("198.18.0.12"): 15,
                    "drfwd_backend_conns_total" + backend("198.18.0.11"): 15,
                    'drfwd_drops_total{port="0",reason="no-service"}': 3,
                    'drfwd_drops_total{port="0",reason="ip-bad-checksum"}': 2,
                    "drfwd_ipvs_connections_total": 30,
                    "drfwd_ipvs_incoming_packets_total": 30,
                    "drfwd_ipvs_backend_weight" + backend("198.18.0.12"): 1,
                    'drfwd_port_received_total{port="0"}': 35,
                    'drfwd_worker_received_total{worker="0"}': 35,
                    "drfwd_backend_up" + backend("198.18.0.11"): 1}
            got = {}
            deadline = time.time() + 10
            while time.time() < deadline:  # the workers may still be counting the last burst
                r = scrape(ns)
                h.check(r.returncode == 0, "scrape failed: %s\n%s" % (r.stderr, "".join(d.errors)))
                head, body = split(r.stdout)
                got = samples(body)
                if all(got.get(k) == v for k, v in want.items()):
                    break
                time.sleep(0.1)
            wrong = {k: (got.get(k), v) for k, v in want.items() if got.get(k) != v}
            h.check(not wrong, "metric: (scraped, expected): %s" % wrong)
            h.check(head.startswith("HTTP/1.1 200 OK"), head)
            h.check("Content-Type: text/plain; version=0.0.4; charset=utf-8" in head, head)
            h.check("Connection: close" in head, head)
            # A series per active-connection gauge of node_exporter's collector.
            h.check("drfwd_ipvs_backend_connections_active" + backend("198.18.0.11") in got, "no active gauge")
            h.check('drfwd_build_info{version="' in body, "no build info")

            lint = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True, text=True,
                                  timeout=30)
            h.check(lint.returncode == 0 and not lint.stdout.strip() and not lint.stderr.strip(),
                    "promtool check metrics (exit %d):\n%s%s" % (lint.returncode, lint.stdout, lint.stderr))

            # The link page, a 404 and a 405, all on the same server.
            head, body = split(scrape(ns, "/").stdout)
            h.check(head.startswith("HTTP/1.1 200") and 'href="/metrics"' in body, head + body)
            h.check(scrape(ns, "/nothing").stdout.startswith("HTTP/1.1 404"), "no 404")
            h.check(scrape(ns, "/metrics", "-X", "POST").stdout.startswith("HTTP/1.1 405"), "no 405")

            # A second drfwd on the same address stops before its ports start, saying why.
            tmp = d.tmp
            rx = os.path.join(tmp, "second.pcap")
            h.write_pcap(rx, [])
            second = ns.run(h.drfwd_binary(), "-l", "0,1", *h.EAL, "--file-prefix", "second",
                            "--vdev", "net_pcap0,rx_pcap=%s,tx_pcap=%s" % (rx, os.path.join(tmp, "second-out.pcap")),
                            "--", "--no-kernel-interfaces", "--socket", "none",
                            "--metrics", "127.0.0.1:%d" % PORT)
            h.check(second.returncode == 1, "second drfwd exit %d:\n%s" % (second.returncode, second.stderr))
            h.check(re.search(r"--metrics 127\.0\.0\.1:%d: cannot listen: Address already in use" % PORT,
                              second.stderr), second.stderr)
            h.check("forwarding on" not in second.stderr, second.stderr)
            h.check(d.stop() == 0, "exit status\n" + "".join(d.errors))


def test_a_bad_address_is_refused_at_parse_time():
    # No EAL, no ports, no socket: only the option parser runs.
    for bad, why in (("localhost:9100", "not an IPv4 address"), ("::1:9100", "brackets"),
                     ("127.0.0.1:0", "from 1 to 65535"), ("127.0.0.1", "no port")):
        r = subprocess.run([h.drfwd_binary(), "--", "--metrics", bad], capture_output=True, text=True, timeout=30)
        h.check(r.returncode == 2, "%s: exit %d" % (bad, r.returncode))
        h.check(r.stderr.startswith("drfwd: --metrics '%s': " % bad) and why in r.stderr, r.stderr)
