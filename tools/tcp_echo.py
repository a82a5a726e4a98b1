#!/usr/bin/env python3
"""A line echo for the labs' real servers, for long-lived connections: answers every
line with "NAME <line>", so a client sees which real server holds its connection.
Listens on every address of the namespace (the VIP on loopback for clients, the real
server's own address for drfwd's health checks; a DR reply leaves from the address the
client connected to, the VIP, either way).   tcp_echo.py NAME PORT [PORT ...]"""
import asyncio
import sys


async def serve(name, ports):
    prefix = name.encode() + b" "

    async def echo(reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                writer.write(prefix + line)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    servers = [await asyncio.start_server(echo, "0.0.0.0", port, reuse_address=True, backlog=256) for port in ports]
    await asyncio.gather(*(s.serve_forever() for s in servers))


def main():
    asyncio.run(serve(sys.argv[1], [int(p) for p in sys.argv[2:]]))


if __name__ == "__main__":
    main()
