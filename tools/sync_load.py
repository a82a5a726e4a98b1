#!/usr/bin/python3
"""New flows at a steady rate through a VIP, for the connection sync load test: every
UDP datagram comes from a source (address, port) not used before, so the director
schedules a new connection for each and its sync master announces each one. Prints
one JSON line at the end. Use only inside a lab's namespaces, at addresses in
198.18.0.0/15.

  sync_load.py VIP PORT --sources A[,B...] [--rate 20000] [--duration 10]
               [--first-port 1024] [--procs 1] [--size 16]

The datagrams are written whole through a raw socket (IP_HDRINCL; the kernel fills in
the IP checksum, the UDP checksum is 0), so one sendto() is all a flow costs and no
socket is opened per flow. Flow i comes from source address i mod len(sources), port
first-port + i div len(sources): rate x duration must fit in len(sources) x
(65536 - first-port). The source addresses should be on the sender's interface (the
test adds them) so that whatever the real servers answer has somewhere to go.

Pacing: a batch every 5 ms, each on its own deadline from the start (a late batch is
sent at once, not dropped: the total stays rate x duration unless a send fails).
--procs N splits the flows between N processes (flow i to process i mod N), for rates
one process cannot reach.

Report fields: flows (sent), errors (sends refused: those flows were never created),
seconds (from the first batch to the last), rate (flows / seconds), max_lag (how far
the slowest batch was behind its deadline), procs.
"""
import argparse
import ipaddress
import json
import os
import socket
import struct
import sys
import time

LAB_NET = ipaddress.ip_network("198.18.0.0/15")
BATCH_SECONDS = 0.005


def sender(a, index, procs, out_fd):
    """Sends flows index, index + procs, ... and writes its JSON report to out_fd."""
    sources = [socket.inet_aton(x) for x in a.sources]
    dst = socket.inet_aton(a.vip)
    total = int(a.rate * a.duration)
    mine = range(index, total, procs)
    rate = a.rate / procs
    per_batch = max(1, int(round(rate * BATCH_SECONDS)))
    payload = b"s" * a.size
    udp_len = 8 + len(payload)
    # IPv4 header (id, checksum 0: the kernel fills them in) + UDP header + payload.
    pkt = bytearray(struct.pack("!BBHHHBBH4s4sHHHH", 0x45, 0, 20 + udp_len, 0, 0x4000, 64, socket.IPPROTO_UDP,
                                0, sources[0], dst, 0, a.port, udp_len, 0) + payload)
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    target = (a.vip, 0)
    n_src = len(sources)
    sent = errors = 0
    max_lag = 0.0
    start = time.monotonic()
    deadline = start
    it = iter(mine)
    done = False
    while not done:
        for _ in range(per_batch):
            i = next(it, None)
            if i is None:
                done = True
                break
            pkt[12:16] = sources[i % n_src]
            struct.pack_into("!H", pkt, 20, a.first_port + i // n_src)
            try:
                s.sendto(pkt, target)
                sent += 1
            except OSError:
                errors += 1
        deadline += per_batch / rate
        now = time.monotonic()
        if now < deadline:
            time.sleep(deadline - now)
        else:
            max_lag = max(max_lag, now - deadline)
    took = time.monotonic() - start
    os.write(out_fd, json.dumps({"flows": sent, "errors": errors, "seconds": took, "max_lag": max_lag}).encode())
    os.close(out_fd)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("vip")
    ap.add_argument("port", type=int)
    ap.add_argument("--sources", required=True, help="source addresses, comma-separated")
    ap.add_argument("--rate", type=float, default=20000, help="new flows per second, all processes together")
    ap.add_argument("--duration", type=float, default=10, help="seconds")
    ap.add_argument("--first-port", type=int, default=1024)
    ap.add_argument("--procs", type=int, default=1)
    ap.add_argument("--size", type=int, default=16, help="UDP payload bytes")
    a = ap.parse_args()
    a.sources = [x for x in a.sources.split(",") if x]
    for addr in [a.vip] + a.sources:
        if ipaddress.ip_address(addr) not in LAB_NET:
            sys.exit("sync_load: %s is outside 198.18.0.0/15" % addr)
    if not 0 < a.first_port < 65536 or a.procs < 1 or a.rate <= 0 or a.duration <= 0:
        sys.exit("sync_load: bad --first-port, --procs, --rate or --duration")
    flows = int(a.rate * a.duration)
    if flows > len(a.sources) * (65536 - a.first_port):
        sys.exit("sync_load: %d flows need more source addresses (or a lower --first-port)" % flows)

    children = []
    for index in range(a.procs):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            code = 0
            try:
                sender(a, index, a.procs, w)
            except BaseException as e:  # noqa: B902 - report whatever stopped the child
                print("sync_load: sender %d: %s" % (index, e), file=sys.stderr)
                code = 1
            os._exit(code)
        os.close(w)
        children.append((pid, r))
    reports, failed = [], 0
    for pid, r in children:
        data = b""
        while True:
            chunk = os.read(r, 4096)
            if not chunk:
                break
            data += chunk
        os.close(r)
        _, status = os.waitpid(pid, 0)
        if status != 0 or not data:
            failed += 1
        else:
            reports.append(json.loads(data))
    sent = sum(x["flows"] for x in reports)
    seconds = max((x["seconds"] for x in reports), default=0.0)
    print(json.dumps({"flows": sent, "errors": sum(x["errors"] for x in reports), "seconds": round(seconds, 3),
                      "rate": int(sent / seconds) if seconds else 0,
                      "max_lag": round(max((x["max_lag"] for x in reports), default=0.0), 3),
                      "procs": a.procs, "failed_procs": failed}), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
