"""Real Redis topologies of a test's own, and a fleet of callers to run against them.

Every server is a ``redis-server`` process on a free loopback port (never 6379), with its
files in a temporary directory; all of them are killed and the directory removed after the
test, whatever happened.
Without redis-server a test is skipped, or fails when CI=true.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_until
from tokenrack.core.registry import Registry

REDIS_PASSWORD = "CANARYSECRET-redis-pw"
SENTINEL_PASSWORD = "CANARYSECRET-sentinel-pw"
SERVICE = "tokens"
# Promotion takes a few seconds (down-after 1 s, an election, a reconfiguration); the
# waits are bounds on a loaded machine, not expectations.
PROMOTION_WAIT = 90.0


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def free_port(*, bus: bool = False) -> int:
    """A free loopback port; with ``bus``, one whose cluster bus port (+10000) is free too."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if not bus:
            return port
        if port < 55000:
            with socket.socket() as other, contextlib.suppress(OSError):
                other.bind(("127.0.0.1", port + 10000))
                return port
    raise AssertionError("no free port pair")


def client(port: int, password: str | None = REDIS_PASSWORD) -> Any:
    import redis

    return redis.Redis(
        host="127.0.0.1", port=port, password=password, socket_timeout=2, socket_connect_timeout=2
    )


def answers(port: int, password: str | None = REDIS_PASSWORD) -> bool:
    import redis

    probe = client(port, password)
    try:
        return bool(probe.ping())
    except redis.RedisError:
        return False
    finally:
        probe.close()


class Servers:
    """redis-server processes of one test, by port; all killed at the end."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    def start(self, port: int, *args: str, password: str | None = REDIS_PASSWORD) -> None:
        workdir = self.directory / str(port)
        workdir.mkdir()
        process = subprocess.Popen(
            [
                *(self.binary, *args, "--port", str(port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(workdir)),
                *("--logfile", str(workdir / "redis.log")),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.processes[port] = process
        wait_until(lambda: answers(port, password), timeout=30)

    def kill(self, port: int) -> None:
        process = self.processes[port]
        process.kill()
        process.wait(timeout=30)

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=30)


@pytest.fixture
def servers() -> Iterator[Servers]:
    """Start redis-server processes on demand; all are killed, their files removed, after."""
    pytest.importorskip("redis")
    binary = shutil.which("redis-server")
    if binary is None or shutil.which("redis-cli") is None:
        why = "redis-server / redis-cli are not installed (apt-get install redis-server)"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    started = Servers(binary, Path(tempfile.mkdtemp(prefix="tokenrack-redis-ha-")))
    try:
        yield started
    finally:
        started.stop_all()
        shutil.rmtree(started.directory, ignore_errors=True)


@dataclass
class SentinelSetup:
    """A primary, its replica and three sentinels watching them (service ``tokens``)."""

    primary: int
    replica: int
    sentinels: list[int]

    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinels)
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    def primary_port(self) -> int | None:
        """The primary the sentinels name now (the first one that answers)."""
        import redis

        for port in self.sentinels:
            probe = client(port, SENTINEL_PASSWORD)
            try:
                address = probe.sentinel_get_master_addr_by_name(SERVICE)
            except redis.RedisError:
                continue
            finally:
                probe.close()
            if address:
                return int(address[1])
        return None


@pytest.fixture
def sentinel_setup(servers: Servers) -> SentinelSetup:
    """A password-protected primary/replica pair and three password-protected sentinels."""
    auth = ["--requirepass", REDIS_PASSWORD, "--masterauth", REDIS_PASSWORD]
    primary, replica = free_port(), free_port()
    servers.start(primary, *auth)
    servers.start(replica, *auth, "--replicaof", "127.0.0.1", str(primary))
    wait_until(
        lambda: client(replica).info("replication").get("master_link_status") == "up",
        timeout=30,
    )
    sentinels = [free_port() for _ in range(3)]
    for port in sentinels:
        config = servers.directory / f"sentinel-{port}.conf"
        config.write_text(
            f"sentinel monitor {SERVICE} 127.0.0.1 {primary} 2\n"
            f"sentinel auth-pass {SERVICE} {REDIS_PASSWORD}\n"
            f"sentinel down-after-milliseconds {SERVICE} 1000\n"
            f"sentinel failover-timeout {SERVICE} 10000\n"
            f"requirepass {SENTINEL_PASSWORD}\n"
        )
        servers.start(port, str(config), "--sentinel", password=SENTINEL_PASSWORD)

    def ready() -> bool:
        # Each sentinel knows the replica and the two other sentinels: a failover can run.
        for port in sentinels:
            probe = client(port, SENTINEL_PASSWORD)
            try:
                state = probe.sentinel_master(SERVICE)
            finally:
                probe.close()
            if int(state["num-slaves"]) < 1 or int(state["num-other-sentinels"]) < 2:
                return False
        return True

    wait_until(ready, timeout=60)
    return SentinelSetup(primary, replica, sentinels)


@dataclass
class ClusterSetup:
    """Three primaries, each with one replica (so that a primary's death is survivable)."""

    ports: list[int]
    servers: Servers = field(repr=False)

    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports[:3])

    def slot_owner(self, key: str) -> int | None:
        """The port of the primary that serves ``key``'s slot now, asked of a live node."""
        import redis

        for port in self.ports:
            if self.servers.processes[port].poll() is not None:
                continue
            probe = client(port, None)
            try:
                slot = int(probe.execute_command("CLUSTER", "KEYSLOT", key))
                for start, end, owner, *_ in probe.execute_command("CLUSTER", "SLOTS"):
                    if int(start) <= slot <= int(end):
                        return int(owner[1])
            except redis.RedisError:
                continue
            finally:
                probe.close()
        return None

    def healthy(self) -> bool:
        """Every live node says cluster_state:ok."""
        import redis

        for port in self.ports:
            if self.servers.processes[port].poll() is not None:
                continue
            probe = client(port, None)
            try:
                if b"cluster_state:ok" not in probe.execute_command("CLUSTER", "INFO"):
                    return False
            except redis.RedisError:
                return False
            finally:
                probe.close()
        return True


@pytest.fixture
def cluster_setup(servers: Servers) -> ClusterSetup:
    """A six-node Redis Cluster (3 primaries, 3 replicas) made with redis-cli --cluster."""
    ports = [free_port(bus=True) for _ in range(6)]
    for port in ports:
        servers.start(
            port,
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            f"nodes-{port}.conf",
            "--cluster-node-timeout",
            "1000",
            "--repl-diskless-sync-delay",
            "0",
            password=None,
        )
    subprocess.run(
        [
            *("redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports)),
            *("--cluster-replicas", "1", "--cluster-yes"),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    setup = ClusterSetup(ports, servers)
    wait_until(setup.healthy, timeout=60)

    def replicas_synced() -> bool:
        # A replica that never synced may not take over: wait for all three links.
        links = [client(port, None).info("replication") for port in ports]
        up = [link for link in links if link.get("master_link_status") == "up"]
        return len(up) == 3

    wait_until(replicas_synced, timeout=60)
    return setup


class Fleet:
    """Callers in threads, ``threads`` per registry, asking for a token every 10 ms.

    Each registry stands for a process: its own in-process cache and its own backend.
    Every answer is recorded with the phase it came in; every exception is an error.
    """

    def __init__(self, registries: list[Registry], threads: int = 2) -> None:
        self.registries = registries
        self.phase = "before"
        self.calls: list[tuple[str, int, str, bool]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(index,), daemon=True)
            for index in range(len(registries))
            for _ in range(threads)
        ]

    def _run(self, index: int) -> None:
        registry = self.registries[index]
        while not self._stop.is_set():
            phase = self.phase
            try:
                token = registry.get_token("a")
            except Exception as error:
                with self._lock:
                    self.errors.append(f"{phase}: {type(error).__name__}: {error}")
            else:
                valid = token.expires_at > time.time()
                with self._lock:
                    self.calls.append((phase, index, digest(token.access_token), valid))
            self._stop.wait(0.01)

    def __enter__(self) -> Fleet:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def users(self, token_digest: str) -> set[int]:
        """The registries that served this token."""
        with self._lock:
            return {index for _, index, seen, _ in self.calls if seen == token_digest}
