#!/usr/bin/env python3
"""A tiny UDP echo for the lab's real servers: answers each datagram with
"NAME <datagram>". Bound to the VIP so replies leave from the VIP, as a DR real
server's must.   udp_echo.py NAME BIND_ADDR PORT"""
import socket
import sys


def main():
    name, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    while True:
        data, peer = s.recvfrom(2048)
        s.sendto(name.encode() + b" " + data, peer)


if __name__ == "__main__":
    main()
