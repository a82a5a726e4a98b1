#!/usr/bin/python3
"""Sends UDP datagrams to ADDR:PORT as fast as one process can for SECONDS, then prints
how many it sent (a JSON line). For the DIP-flood test; use only inside a lab's
namespaces, at addresses in 198.18.0.0/15.

  udp_flood.py ADDR PORT SECONDS [--size BYTES]
"""
import argparse
import ipaddress
import json
import socket
import sys
import time

LAB_NET = ipaddress.ip_network("198.18.0.0/15")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("addr")
    ap.add_argument("port", type=int)
    ap.add_argument("seconds", type=float)
    ap.add_argument("--size", type=int, default=18)
    a = ap.parse_args()
    if ipaddress.ip_address(a.addr) not in LAB_NET:
        sys.exit("udp_flood: %s is outside 198.18.0.0/15" % a.addr)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    payload = b"f" * a.size
    dst = (a.addr, a.port)
    sent = 0
    start = time.monotonic()
    end = start + a.seconds
    while True:
        for _ in range(256):
            try:
                s.sendto(payload, dst)
                sent += 1
            except (BlockingIOError, ConnectionRefusedError):
                pass
        if time.monotonic() >= end:
            break
    took = time.monotonic() - start
    print(json.dumps({"sent": sent, "seconds": round(took, 3), "pps": int(sent / took)}), flush=True)


if __name__ == "__main__":
    main()
