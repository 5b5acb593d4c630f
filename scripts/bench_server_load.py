"""The load client of scripts/bench_server.py: HTTP/1.1 by hand, over keep-alive sockets.

A general-purpose client (httpx, aiohttp) costs more per request than a
small server's whole answer, so the bench speaks the protocol itself: a
blocking socket for one client (one request after another), asyncio streams
(uvloop when installed) for many. ``CANNED_SERVER`` answers every request with
a fixed body at almost no cost: loading it measures the client and the
loopback alone, the floor under every figure of the bench.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"

# The load client's floor: a server that costs (almost) nothing per request.
CANNED_SERVER = r"""
import asyncio, json, sys
BODY = json.dumps({"run_id": "0" * 32, "graph": "Echo3", "status": "completed", "error": None,
                   "path": ["A", "B", "C"], "state": {"x": 1}, "pad": "." * 400}).encode()
ANSWER = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
          % len(BODY)) + BODY

class Canned(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""
    def data_received(self, data):
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            length = 0
            for line in self.buffer[:head_end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return
            self.buffer = self.buffer[end:]
            self.transport.write(ANSWER)

async def main():
    server = await asyncio.get_running_loop().create_server(Canned, "127.0.0.1", int(sys.argv[1]))
    async with server:
        await server.serve_forever()

asyncio.run(main())
"""


# --------------------------------------------------------------------------- HTTP/1.1 by hand


@dataclass(frozen=True)
class Target:
    """One endpoint to load: the request's bytes and what a good answer says."""

    label: str
    port: int
    request: bytes
    check: Callable[[int, bytes], bool]


def post(port: int, path: str, body: dict[str, Any]) -> bytes:
    data = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


def status_completed(code: int, body: bytes) -> bool:
    return code == 200 and json.loads(body).get("status") == "completed"


def parse_head(head: bytes) -> tuple[int, int | None]:
    """Status code and Content-Length (None: chunked) of a response head."""
    lines = head.split(b"\r\n")
    code = int(lines[0].split(b" ", 2)[1])
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            return code, int(value)
        if name == b"transfer-encoding" and b"chunked" in value.lower():
            return code, None
    return code, 0


class BlockingConnection:
    """A keep-alive socket sending one request at a time: the leanest 1-client loop."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def request(self, data: bytes) -> tuple[int, bytes]:
        self.sock.sendall(data)
        head = self._until(b"\r\n\r\n")
        code, length = parse_head(head)
        if length is None:
            chunks = []
            while size := int(self._until(b"\r\n"), 16):
                chunks.append(self._exactly(size))
                self._exactly(2)
            self._until(b"\r\n")
            return code, b"".join(chunks)
        return code, self._exactly(length)

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("the server closed the connection")
        self.buffer += data

    def _until(self, mark: bytes) -> bytes:
        while (at := self.buffer.find(mark)) < 0:
            self._fill()
        found, self.buffer = self.buffer[:at], self.buffer[at + len(mark) :]
        return found

    def _exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._fill()
        found, self.buffer = self.buffer[:size], self.buffer[size:]
        return found

    def close(self) -> None:
        self.sock.close()


def one_client(target: Target, count: int, warmup: int) -> tuple[float, list[float]]:
    """``count`` requests one after another: (wall seconds, each latency)."""
    conn = BlockingConnection(target.port)
    try:
        for _ in range(warmup):
            code, body = conn.request(target.request)
            if not target.check(code, body):
                raise SystemExit(f"{target.label}: bad answer {code}: {body[:300]!r}")
        latencies = []
        clock = time.perf_counter
        start = clock()
        for _ in range(count):
            t0 = clock()
            code, body = conn.request(target.request)
            latencies.append(clock() - t0)
            if not target.check(code, body):
                raise SystemExit(f"{target.label}: bad answer {code}: {body[:300]!r}")
        return clock() - start, latencies
    finally:
        conn.close()


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    code, length = parse_head((await reader.readuntil(b"\r\n\r\n"))[:-4])
    if length is None:
        chunks = []
        while size := int((await reader.readuntil(b"\r\n"))[:-2], 16):
            chunks.append(await reader.readexactly(size + 2))
        await reader.readuntil(b"\r\n")
        return code, b"".join(c[:-2] for c in chunks)
    return code, await reader.readexactly(length)


async def _many_clients(
    target: Target, count: int, clients: int, warmup: int
) -> tuple[float, list[float], int]:
    conns = [await asyncio.open_connection(HOST, target.port) for _ in range(clients)]
    for _, writer in conns:
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    latencies: list[float] = []
    bad = 0
    remaining = count
    clock = time.perf_counter

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal remaining, bad
        while remaining > 0:
            remaining -= 1
            t0 = clock()
            writer.write(target.request)
            code, body = await _read_answer(reader)
            latencies.append(clock() - t0)
            if not target.check(code, body):
                bad += 1

    async def warm(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(warmup):
            writer.write(target.request)
            await _read_answer(reader)

    try:
        await asyncio.wait_for(asyncio.gather(*(warm(r, w) for r, w in conns)), 300)
        start = clock()
        await asyncio.wait_for(asyncio.gather(*(client(r, w) for r, w in conns)), 600)
        return clock() - start, latencies, bad
    finally:
        for _, writer in conns:
            writer.close()


def many_clients(
    target: Target, count: int, clients: int, warmup: int
) -> tuple[float, list[float], int]:
    """``count`` requests from ``clients`` concurrent keep-alive connections (uvloop if there)."""
    try:
        import uvloop

        return uvloop.run(_many_clients(target, count, clients, warmup))
    except ImportError:
        return asyncio.run(_many_clients(target, count, clients, warmup))


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a process has used (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: int) -> float:
    """The q-th percentile in milliseconds."""
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1e3


# --------------------------------------------------------------------------- servers


@contextmanager
def process(
    command: list[str],
    port: int,
    health: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    stop: signal.Signals = signal.SIGTERM,
) -> Iterator[subprocess.Popen[bytes]]:
    """A server subprocess, up once ``health`` answers 200; ``stop`` (then SIGKILL) at the end.

    uvicorn re-raises the SIGTERM it shut down on, which kills a process under
    cProfile before it writes its profile; SIGINT ends it with a
    KeyboardInterrupt, which cProfile's finally survives.
    """
    log = (cwd / f"server-{port}.log").open("wb")
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTMAP_")}
    full_env.update(env or {})
    proc = subprocess.Popen(command, cwd=cwd, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"{command[0]} exited: {(cwd / log.name).read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://{HOST}:{port}{health}", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"{command[0]} did not start: {Path(log.name).read_text()[-2000:]}"
                )
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(stop)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        log.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
    return port
