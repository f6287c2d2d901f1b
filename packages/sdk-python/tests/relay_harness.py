"""Real relay processes for the tests: gateway nodes (``node packages/gateway/dist/main.js``),
their own ``redis-server`` on a free port, and a round-robin TCP balancer in front of several
nodes, as test/support/relay-process.ts, redis-server.ts and load-balancer.ts do for jest.
Never touches the Redis on 6379."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parents[3]
GATEWAY = ROOT / "packages/gateway/dist/main.js"
PRINCIPALS = ("portal", "flow", "athena", "klyve")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _secret() -> str:
    return secrets.token_urlsafe(18).replace("-", "x").replace("_", "x")


def make_registry() -> tuple[dict[str, Any], dict[str, str]]:
    """Apps portal and flow, agents athena (both apps) and klyve (portal only), fresh tokens."""
    tokens = {p: f"{'rla' if p in ('athena', 'klyve') else 'rlk'}_{p}_{_secret()}" for p in PRINCIPALS}
    registry = {
        "apps": [
            {"id": "portal", "name": "Portal", "tokens": [tokens["portal"]]},
            {"id": "flow", "name": "Flow", "tokens": [tokens["flow"]]},
        ],
        "agents": [
            {"id": "athena", "name": "Athena", "description": "Summarizes discussions", "tokens": [tokens["athena"]], "allow_apps": ["portal", "flow"]},
            {"id": "klyve", "name": "Klyve", "description": "Plans tasks", "tokens": [tokens["klyve"]], "allow_apps": ["portal"]},
        ],
    }
    return registry, tokens


class _Output:
    """Collects a child's output on a thread, so its pipe never fills up."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.text = ""
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for line in iter(proc.stdout.readline, b""):
            with self._lock:
                self.text += line.decode("utf-8", "replace")
        proc.stdout.close()  # EOF: the process and any child holding the pipe are gone

    def join(self) -> None:
        self._thread.join(10)

    def wait_for(self, pattern: str, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                match = re.search(pattern, self.text)
            if match:
                return match
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"never saw {pattern!r} (exit {proc.poll()}):\n{self.text[-4000:]}")
            time.sleep(0.02)


class RedisServer:
    """A redis-server of the test's own. With ``appendonly``, as in production, every write is
    fsynced to its AOF, so a SIGKILL and ``start()`` again keeps the data (a crash, not a wipe)."""

    def __init__(self, appendonly: bool = False) -> None:
        self.appendonly = appendonly
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="relay-py-redis-")
        self.proc: Optional[subprocess.Popen[bytes]] = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir, "--save", "", "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "always", "--protected-mode", "no"]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.output = _Output(self.proc)
        self.output.wait_for(r"Ready to accept connections", self.proc, 10)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)
            self.output.join()


class Node:
    """One gateway process on a free port."""

    def __init__(self, env: dict[str, str]) -> None:
        full = {"PATH": os.environ.get("PATH", ""), "PORT": "0", "HOST": "127.0.0.1", "LOG_LEVEL": "info", "RELAY_NODE_ID": f"py-{secrets.token_hex(3)}", **env}
        self.proc = subprocess.Popen(["node", str(GATEWAY)], env=full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.output = _Output(self.proc)
        try:
            self.port = int(self.output.wait_for(r'"port":(\d+)[^\n]*relay listening', self.proc).group(1))
            deadline = time.monotonic() + 15
            while not self._ready():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"relay never became ready:\n{self.output.text[-4000:]}")
                time.sleep(0.05)
        except BaseException:
            self.stop(signal.SIGKILL)
            raise

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> Optional[int]:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(20)
        self.output.join()
        return code


class Balancer:
    """A plain TCP balancer on 127.0.0.1, on a thread of its own: each new connection goes to
    the next live upstream in turn, with no stickiness. ``routes`` lists, per accepted
    connection, the index of the node it went to, so a test knows where its client landed."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.dead: set[int] = set()
        self.routes: list[int] = []
        self._next = 0
        self._loop = asyncio.new_event_loop()
        self._writers: set[asyncio.StreamWriter] = set()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self._thread.start()
        ready.wait(10)

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        ready.set()
        self._loop.run_forever()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        live = [i for i in range(len(self.ports)) if i not in self.dead]
        index = live[self._next % len(live)]
        self._next += 1
        self.routes.append(index)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.ports[index])
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                # A node that goes away ends its clients' connections, and the other way round.
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))

    def close(self) -> None:
        async def shutdown() -> None:
            self._server.close()
            for w in list(self._writers):
                w.close()
            await asyncio.sleep(0.05)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


class Relay:
    """One node on the memory backend (``memory``) or on a redis-server of its own (``redis``,
    AOF on), or three nodes on one redis-server behind a Balancer (``redis-3-nodes``)."""

    def __init__(self, backend: str, env: Optional[dict[str, str]] = None) -> None:
        if not GATEWAY.exists():
            raise RuntimeError(f"{GATEWAY} is missing: run `npm run build` first")
        self.backend = backend
        self.registry, self.tokens = make_registry()
        handle, path = tempfile.mkstemp(prefix="relay-py-registry-", suffix=".json")
        with os.fdopen(handle, "w") as f:
            json.dump(self.registry, f)
        base = {"RELAY_CONFIG": path, **(env or {})}
        self.redis: Optional[RedisServer] = None
        self.balancer: Optional[Balancer] = None
        self.nodes: list[Node] = []
        try:
            if backend == "memory":
                self.nodes.append(Node(base))
            elif backend in ("redis", "redis-3-nodes"):
                self.redis = RedisServer(appendonly=backend == "redis")
                self.redis.start()
                prefix = f"relaypy-{secrets.token_hex(4)}"
                for _ in range(1 if backend == "redis" else 3):
                    self.nodes.append(Node({**base, "REDIS_URL": self.redis.url, "RELAY_REDIS_PREFIX": prefix}))
                if backend == "redis-3-nodes":
                    self.balancer = Balancer([n.port for n in self.nodes])
            else:
                raise ValueError(f"unknown backend {backend}")
        except BaseException:
            self.stop()
            raise

    @property
    def url(self) -> str:
        port = self.balancer.port if self.balancer else self.nodes[0].port
        return f"ws://127.0.0.1:{port}"

    def node_of_last_connection(self) -> int:
        assert self.balancer is not None
        return self.balancer.routes[-1]

    def kill(self, index: int) -> None:
        """SIGKILLs one node: its sockets drop, the balancer stops sending clients to it."""
        assert self.balancer is not None
        self.balancer.dead.add(index)
        self.nodes[index].stop(signal.SIGKILL)

    def stop(self) -> list[Optional[int]]:
        codes = [n.stop() for n in self.nodes]
        if self.balancer is not None:
            self.balancer.close()
        if self.redis is not None:
            self.redis.stop()
        return codes


def _wanted(name: str) -> bool:
    only = os.environ.get("RELAY_TEST_BACKENDS")
    return not only or name in [b.strip() for b in only.split(",")]


def backends() -> list[str]:
    """The backends every relay test runs on: memory and redis-3-nodes, or those of them that
    RELAY_TEST_BACKENDS names (as the jest suites read it)."""
    return [b for b in ("memory", "redis-3-nodes") if _wanted(b)]


def wants_redis() -> bool:
    """Whether the Redis-only tests run: RELAY_TEST_BACKENDS unset, or naming a Redis backend."""
    return _wanted("redis") or _wanted("redis-3-nodes")
