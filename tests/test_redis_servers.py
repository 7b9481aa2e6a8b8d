"""The Redis backend against Redis servers of the test's own: TLS, a unix socket with an
ACL user and password, and a server that accepts connections but never answers.

Each server runs on loopback (or a socket in tmp_path) and is stopped by its test; the
shared Redis on 6379 is not touched.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TOKEN_MARK, LeakGuard, profile, wait_until
from tokenrack.cache.redis import RedisCache
from tokenrack.cache_admin import list_cache_entries, purge_cache
from tokenrack.core.registry import Registry
from tokenrack.errors import CacheError
from tokenrack.testing import TokenEmulator
from tokenrack.testing.tls import TestCertificates, make_certificates

MakeRegistry = Callable[..., Registry]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def run_redis(redis_url: str) -> Iterator[Callable[..., None]]:
    """Start a private redis-server with extra arguments; stopped after the test."""
    binary = shutil.which("redis-server")
    if binary is None:
        why = "redis-server is not installed (apt-get install redis-server)"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str, ready: Callable[[], bool]) -> None:
        server = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started.append(server)
        wait_until(ready, timeout=10)

    yield start
    for server in started:
        server.terminate()
        server.wait(timeout=10)


def answers(**kwargs: Any) -> Callable[[], bool]:
    import redis

    def ping() -> bool:
        client = redis.Redis(socket_timeout=1, socket_connect_timeout=1, **kwargs)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    return ping


def two_processes_share(
    make_registry: MakeRegistry, emulator: TokenEmulator, cache: dict[str, Any]
) -> Registry:
    config = {"a": profile(emulator, cache=cache)}
    first = make_registry(config).get_token("a")
    registry = make_registry(config)
    assert registry.get_token("a").access_token == first.access_token
    assert emulator.request_count == 1
    return registry


def test_rediss_with_a_ca_bundle(
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    run_redis: Callable[..., None],
    tmp_path: Path,
) -> None:
    certs: TestCertificates = make_certificates(tmp_path)
    port = free_port()
    run_redis(
        "--port",
        "0",
        "--tls-port",
        str(port),
        "--tls-cert-file",
        str(certs.cert_path),
        "--tls-key-file",
        str(certs.key_path),
        "--tls-ca-cert-file",
        str(certs.ca_path),
        "--tls-auth-clients",
        "no",
        ready=answers(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=str(certs.ca_path)),
    )
    two_processes_share(
        make_registry,
        emulator,
        {
            "backend": "redis",
            "plaintext": True,
            "url": f"rediss://127.0.0.1:{port}/0",
            "ca_bundle": str(certs.ca_path),
        },
    )


def test_rediss_refuses_a_server_it_cannot_verify(
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    run_redis: Callable[..., None],
    tmp_path: Path,
    leak_guard: LeakGuard,
) -> None:
    certs = make_certificates(tmp_path)
    port = free_port()
    run_redis(
        "--port",
        "0",
        "--tls-port",
        str(port),
        "--tls-cert-file",
        str(certs.cert_path),
        "--tls-key-file",
        str(certs.key_path),
        "--tls-ca-cert-file",
        str(certs.ca_path),
        "--tls-auth-clients",
        "no",
        ready=answers(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=str(certs.ca_path)),
    )
    # No ca_bundle: the test CA is not trusted, so the cache is unavailable, not the token.
    registry = make_registry(
        {
            "a": profile(
                emulator,
                cache={
                    "backend": "redis",
                    "plaintext": True,
                    "url": f"rediss://127.0.0.1:{port}/0",
                },
            )
        }
    )
    assert registry.get_token("a").access_token.startswith(TOKEN_MARK)
    assert any("unavailable (" in line for line in leak_guard.lines)


def test_unix_socket_with_an_acl_user_and_a_password_from_a_secret_source(
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    run_redis: Callable[..., None],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "redis.sock"
    password = "CANARYSECRET-redis-password"
    monkeypatch.setenv("TOKENRACK_TEST_REDIS_PASSWORD", password)
    run_redis(
        "--port",
        "0",
        "--unixsocket",
        str(path),
        "--unixsocketperm",
        "700",
        "--user",
        "svc",
        "on",
        f">{password}",
        # The per-service ACL docs/fleet.md recommends: its own prefix, these commands only.
        "~tokenrack:svc:*",
        "+get",
        "+getrange",
        "+pttl",
        "+set",
        "+del",
        "+eval",
        "+scan",
        "+ping",
        "--user",
        "default",
        "off",
        ready=lambda: (
            path.exists()
            and answers(unix_socket_path=str(path), username="svc", password=password)()
        ),
    )
    cache = {
        "backend": "redis",
        "plaintext": True,
        "url": f"unix://{path}",
        "key_prefix": "tokenrack:svc:",
        "username": "svc",
        "password": {"env": "TOKENRACK_TEST_REDIS_PASSWORD"},
    }
    registry = two_processes_share(make_registry, emulator, cache)
    # The cache administration works within the same ACL.
    shared = [e for e in list_cache_entries(registry) if e.backend == "redis"]
    assert [e.state for e in shared] == ["fresh"]
    assert purge_cache(registry).shared == ("a",)
    assert [e.state for e in list_cache_entries(registry) if e.backend == "redis"] == ["absent"]


def test_a_redis_that_never_answers_costs_at_most_its_timeout(
    emulator: TokenEmulator, make_registry: MakeRegistry, leak_guard: LeakGuard
) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # connections complete in the kernel; nothing ever answers
        port = silent.getsockname()[1]
        cache = RedisCache({"url": f"redis://127.0.0.1:{port}/0", "timeout": 0.3}, secrets={})
        with pytest.raises(CacheError, match="Timeout"):
            cache.get("k")
        cache.close()
        registry = make_registry(
            {
                "a": profile(
                    emulator,
                    cache={
                        "backend": "redis",
                        "plaintext": True,
                        "url": f"redis://127.0.0.1:{port}/0",
                        "timeout": 0.3,
                    },
                )
            }
        )
        tokens = {registry.get_token("a").access_token for _ in range(3)}
        assert len(tokens) == 1 and emulator.request_count == 1
    assert len([line for line in leak_guard.lines if "unavailable (" in line]) == 1


def test_a_server_that_answers_garbage_is_an_outage_not_an_error(
    emulator: TokenEmulator, make_registry: MakeRegistry
) -> None:
    import threading

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        server.settimeout(0.2)
        port = server.getsockname()[1]
        stop = threading.Event()

        def answer_garbage() -> None:
            while not stop.is_set():
                try:
                    connection, _ = server.accept()
                except OSError:
                    continue
                with connection:
                    connection.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

        thread = threading.Thread(target=answer_garbage, daemon=True)
        thread.start()
        try:
            cache = RedisCache({"url": f"redis://127.0.0.1:{port}/0", "timeout": 0.5}, secrets={})
            with pytest.raises(CacheError):
                cache.get("k")
            cache.close()
            registry = make_registry(
                {
                    "a": profile(
                        emulator,
                        cache={
                            "backend": "redis",
                            "plaintext": True,
                            "url": f"redis://127.0.0.1:{port}/0",
                            "timeout": 0.5,
                        },
                    )
                }
            )
            assert registry.get_token("a").access_token.startswith(TOKEN_MARK)
        finally:
            stop.set()
            thread.join(timeout=5)
