#!/usr/bin/env python3
"""Long-lived TCP connections through a VIP, for director fail-over tests: opens K
connections to an echo service that answers every line with "<RS name> <line>"
(tools/tcp_echo.py), sends a line on each every INTERVAL seconds, and prints one JSON
report at the end: for every connection whether it was reset or failed, the real
servers that answered (changed or not), the longest wait for an answer and the longest
gap between two answers.

  longlived.py VIP PORT [--conns 30] [--interval 0.05] [--duration 10]
               [--stop-file F] [--ready-file F] [--probe-interval 0.2]

It stops after --duration seconds (0: no limit but --max-duration), when --stop-file
appears, or on SIGTERM/SIGINT, then waits up to --drain seconds for the answers still
due. --ready-file is created once every connection has had its first answer (or
failed), so a test knows when to break something. --probe-interval opens a new
connection every so often, sends one line and waits for its answer: whether new
connections are served during a fail-over. One thread, asyncio: cheap enough to run
next to busy-polling drfwd workers on two cores.

Summary fields: connected, reset (ECONNRESET), failed (any error, end of stream or an
answer never received), rs_changed, max_latency (longest time between a line sent and
its answer, unanswered lines counted until the end), max_answer_gap, per_rs, and for
the probes ok, failed, slowest (the longest a served probe took: a SYN lost during a
fail-over is sent again after 1 s), longest_outage (from the first failed probe to
the next good one) and failures (each failed probe's start and end, wall-clock seconds
since the epoch, for a test to set beside the moment it broke something). Times are
seconds; "at" fields count from the start of the run.
"""
import argparse
import asyncio
import json
import os
import signal
import sys
import time


class Conn:
    def __init__(self, ident):
        self.id = ident
        self.local_port = None
        self.reader = self.writer = None
        self.sent = {}              # seq -> monotonic time sent, until answered
        self.next_seq = 0
        self.answers = 0
        self.rs = []                # RS names in the order first seen
        self.last_rs = None
        self.changes = 0
        self.error = None
        self.error_at = None
        self.reset = False
        self.last_answer = None
        self.max_latency = 0.0
        self.max_latency_at = None  # when the line that waited longest was sent
        self.max_gap = 0.0
        self.max_gap_at = None
        self.first = asyncio.Event()

    def fail(self, what, at, reset=False):
        if self.error is None:
            self.error, self.error_at, self.reset = what, at, reset
        self.first.set()

    @property
    def alive(self):
        return self.error is None and self.writer is not None

    def report(self, t0):
        rel = lambda t: None if t is None else round(t - t0, 3)
        return {"id": self.id, "local_port": self.local_port, "rs": self.rs, "changed": self.changes > 0,
                "reset": self.reset, "error": self.error, "error_at": rel(self.error_at), "sent": self.next_seq,
                "answered": self.answers, "unanswered": len(self.sent),
                "max_latency": round(self.max_latency, 3), "max_latency_at": rel(self.max_latency_at),
                "max_answer_gap": round(self.max_gap, 3), "max_answer_gap_at": rel(self.max_gap_at)}


class Run:
    def __init__(self, args):
        self.a = args
        self.conns = [Conn(i) for i in range(args.conns)]
        self.stop = asyncio.Event()
        self.t0 = time.monotonic()
        self.probes = {"ok": 0, "failed": 0, "slowest": 0.0, "longest_outage": 0.0, "outage_at": None, "per_rs": {},
                       "failures": []}

    # ---- one connection ------------------------------------------------------------
    async def open(self, c):
        try:
            c.reader, c.writer = await asyncio.wait_for(
                asyncio.open_connection(self.a.vip, self.a.port), self.a.connect_timeout)
            c.local_port = c.writer.get_extra_info("sockname")[1]
        except (OSError, asyncio.TimeoutError) as e:
            c.fail("connect: %s" % (type(e).__name__ if not str(e) else e), time.monotonic())
            return
        await self.read_answers(c)

    async def read_answers(self, c):
        while True:
            try:
                line = await c.reader.readline()
            except ConnectionResetError as e:
                c.fail("reset: %s" % e, time.monotonic(), reset=True)
                return
            except OSError as e:
                c.fail("read: %s" % e, time.monotonic())
                return
            now = time.monotonic()
            if not line:
                if not self.stop.is_set() or c.sent:
                    c.fail("end of stream", now)
                return
            words = line.decode(errors="replace").split()
            if len(words) != 3 or words[1] != "c%d" % c.id or not words[2].isdigit():
                c.fail("unexpected answer %r" % line[:80], now)
                return
            sent = c.sent.pop(int(words[2]), None)
            if sent is None:
                c.fail("answer to a line not sent (or twice): %r" % line[:80], now)
                return
            if now - sent > c.max_latency:
                c.max_latency, c.max_latency_at = now - sent, sent
            if c.last_answer is not None and now - c.last_answer > c.max_gap:
                c.max_gap, c.max_gap_at = now - c.last_answer, c.last_answer
            c.last_answer = now
            c.answers += 1
            name = words[0]
            if name not in c.rs:
                c.rs.append(name)
            if c.last_rs is not None and name != c.last_rs:
                c.changes += 1
            c.last_rs = name
            c.first.set()

    def send_line(self, c, now):
        try:
            c.writer.write(b"c%d %d\n" % (c.id, c.next_seq))
        except (OSError, RuntimeError) as e:
            c.fail("write: %s" % e, now, reset=isinstance(e, ConnectionResetError))
            return
        c.sent[c.next_seq] = now
        c.next_seq += 1

    # ---- the whole run ---------------------------------------------------------------
    async def ticker(self):
        """One timer for every connection: a line on each, every interval."""
        nxt = time.monotonic()
        while not self.stop.is_set():
            now = time.monotonic()
            for c in self.conns:
                if c.alive:
                    self.send_line(c, now)
            nxt += self.a.interval
            if nxt < now:  # fell behind (a starved machine): do not burst to catch up
                nxt = now + self.a.interval
            try:
                await asyncio.wait_for(self.stop.wait(), nxt - time.monotonic())
            except asyncio.TimeoutError:
                pass

    async def probe_once(self):
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection(self.a.vip, self.a.port), self.a.probe_timeout)
        except (OSError, asyncio.TimeoutError):
            return None
        try:
            w.write(b"p 0\n")
            line = await asyncio.wait_for(r.readline(), self.a.probe_timeout)
            words = line.decode(errors="replace").split()
            return words[0] if len(words) == 3 and words[1:] == ["p", "0"] else None
        except (OSError, asyncio.TimeoutError):
            return None
        finally:
            w.close()

    async def prober(self):
        down_since = None
        p = self.probes
        while not self.stop.is_set():
            started, wall = time.monotonic(), time.time()
            name = await self.probe_once()
            if name:
                p["ok"] += 1
                p["slowest"] = max(p["slowest"], round(time.monotonic() - started, 3))
                p["per_rs"][name] = p["per_rs"].get(name, 0) + 1
                if down_since is not None and started - down_since > p["longest_outage"]:
                    p["longest_outage"], p["outage_at"] = round(started - down_since, 3), round(down_since - self.t0, 3)
                down_since = None
            else:
                p["failed"] += 1
                p["failures"].append([round(wall, 3), round(time.time(), 3)])
                down_since = started if down_since is None else down_since
            try:
                await asyncio.wait_for(self.stop.wait(), max(0.0, started + self.a.probe_interval - time.monotonic()))
            except asyncio.TimeoutError:
                pass
        if down_since is not None:
            end = time.monotonic()
            if end - down_since > p["longest_outage"]:
                p["longest_outage"], p["outage_at"] = round(end - down_since, 3), round(down_since - self.t0, 3)
            p["still_down_at_end"] = True

    async def watch_stop(self):
        limit = self.a.duration or self.a.max_duration
        while not self.stop.is_set():
            if time.monotonic() - self.t0 >= limit or (self.a.stop_file and os.path.exists(self.a.stop_file)):
                self.stop.set()
                break
            try:
                await asyncio.wait_for(self.stop.wait(), 0.1)
            except asyncio.TimeoutError:
                pass

    async def mark_ready(self):
        await asyncio.gather(*(c.first.wait() for c in self.conns))
        if self.a.ready_file:
            with open(self.a.ready_file, "w") as f:
                f.write("%d\n" % sum(1 for c in self.conns if c.error is None))

    async def main(self):
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop.set)
        readers = [asyncio.create_task(self.open(c)) for c in self.conns]
        ready = asyncio.create_task(self.mark_ready())
        jobs = [asyncio.create_task(self.ticker()), asyncio.create_task(self.watch_stop())]
        if self.a.probe_interval > 0:
            jobs.append(asyncio.create_task(self.prober()))
        await self.stop.wait()
        await asyncio.gather(*jobs)
        # The answers still due, then an orderly close.
        end = time.monotonic() + self.a.drain
        while any(c.alive and c.sent for c in self.conns) and time.monotonic() < end:
            await asyncio.sleep(0.02)
        self.finished = time.monotonic()
        for c in self.conns:
            if c.alive and c.sent:
                c.fail("%d line(s) never answered" % len(c.sent), self.finished)
            if c.writer is not None:
                c.writer.close()
        for t in readers + [ready]:
            t.cancel()
        await asyncio.gather(*readers, ready, return_exceptions=True)

    def report(self):
        for c in self.conns:  # lines never answered waited until the end
            for sent in c.sent.values():
                if self.finished - sent > c.max_latency:
                    c.max_latency, c.max_latency_at = self.finished - sent, sent
        conns = [c.report(self.t0) for c in self.conns]
        per_rs = {}
        for c in self.conns:
            if c.last_rs:
                per_rs[c.last_rs] = per_rs.get(c.last_rs, 0) + 1
        summary = {
            "connected": sum(1 for c in self.conns if c.local_port is not None),
            "reset": sum(1 for c in self.conns if c.reset),
            "failed": sum(1 for c in self.conns if c.error is not None),
            "rs_changed": sum(1 for c in self.conns if c.changes),
            "max_latency": max((x["max_latency"] for x in conns), default=0.0),
            "max_answer_gap": max((x["max_answer_gap"] for x in conns), default=0.0),
            "lines_sent": sum(c.next_seq for c in self.conns),
            "answers": sum(c.answers for c in self.conns),
            "per_rs": per_rs,
        }
        out = {"vip": self.a.vip, "port": self.a.port, "interval": self.a.interval,
               "ran": round(self.finished - self.t0, 3), "summary": summary, "connections": conns}
        if self.a.probe_interval > 0:
            out["probes"] = self.probes
        return out


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("vip")
    ap.add_argument("port", type=int)
    ap.add_argument("--conns", type=int, default=30)
    ap.add_argument("--interval", type=float, default=0.05, help="seconds between lines on a connection")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds to run (0: until stopped)")
    ap.add_argument("--max-duration", type=float, default=600.0, help="a hard limit when --duration is 0")
    ap.add_argument("--stop-file", help="stop as soon as this file exists")
    ap.add_argument("--ready-file", help="created once every connection has its first answer")
    ap.add_argument("--connect-timeout", type=float, default=3.0)
    ap.add_argument("--drain", type=float, default=3.0, help="seconds to wait for the last answers")
    ap.add_argument("--probe-interval", type=float, default=0.0, help="open a new connection this often (0: never)")
    ap.add_argument("--probe-timeout", type=float, default=2.0,
                    help="seconds a probe may take (a lost SYN is sent again after 1 s)")
    return ap.parse_args(argv)


def main():
    args = parse_args()
    run = Run(args)
    asyncio.run(run.main())
    json.dump(run.report(), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
