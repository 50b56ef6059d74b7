#!/usr/bin/env python3
"""Server memory per idle TLS connection.

Opens --conns TLS connections (verified against --ca) to an echo server on
127.0.0.1:--port, echoes one 16-byte message on each, keeps them all open
and idle, and reads the server's /proc/PID/status (VmRSS, RssAnon) before
connecting, with every connection idle, and after closing them all. Prints
one JSON line. Loopback only; bounded by --timeout.
"""
import argparse
import asyncio
import json
import resource
import ssl
import sys
import time


def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon"):
                out[key] = int(value.split()[0])  # kB
    return out


async def one(port, ctx, i, conns):
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=ctx, server_hostname="127.0.0.1")
    msg = b"%016d" % i
    writer.write(msg)
    await writer.drain()
    got = await reader.readexactly(len(msg))
    if got != msg:
        raise RuntimeError(f"connection {i}: echoed {got!r}")
    conns.append(writer)


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--conns", type=int, default=10000)
    p.add_argument("--parallel", type=int, default=64)
    p.add_argument("--settle", type=float, default=1.0)
    p.add_argument("--timeout", type=float, default=300)
    a = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    ctx = ssl.create_default_context(cafile=a.ca)
    time.sleep(a.settle)
    before = status(a.pid)
    conns = []
    start = time.monotonic()
    sem = asyncio.Semaphore(a.parallel)

    async def guarded(i):
        async with sem:
            await one(a.port, ctx, i, conns)

    await asyncio.wait_for(asyncio.gather(*(guarded(i) for i in range(a.conns))),
                           a.timeout)
    connect_s = time.monotonic() - start
    await asyncio.sleep(a.settle)
    idle = status(a.pid)
    for w in conns:
        w.close()
    await asyncio.gather(*(w.wait_closed() for w in conns), return_exceptions=True)
    await asyncio.sleep(a.settle)
    after = status(a.pid)
    n = len(conns)
    print(json.dumps({
        "conns": n, "connect_s": round(connect_s, 2),
        "before": before, "idle": idle, "after": after,
        "rss_per_conn_bytes": round((idle["VmRSS"] - before["VmRSS"]) * 1024 / n),
        "anon_per_conn_bytes": round((idle["RssAnon"] - before["RssAnon"]) * 1024 / n),
    }))


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
