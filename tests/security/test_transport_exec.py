"""Attacks on the transport and on ``tokenrack exec`` (issue 10 §5; review F9, F10, F17, F20).

Each test plays one attacker for real: a proxy from the environment (a socket server that
records what reaches it), a name under ``.localhost`` that only DNS could resolve, a URL
that carries credentials, and a command run by ``tokenrack exec`` that reads its
environment (the console script in a subprocess, against the emulator and real Redis).
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import CLIENT_ID, SECRET, TOKEN_MARK, canary_client, profile, without_coverage
from tokenrack import Registry
from tokenrack.errors import ConfigError
from tokenrack.testing import TokenEmulator
from tokenrack.testing.tls import make_certificates

TOKENRACK = str(Path(sys.executable).with_name("tokenrack"))
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


class RecordingProxy:
    """A proxy on loopback that records the first line of every request, then hangs up."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:  # closed: the test is over
                return
            with connection:
                connection.settimeout(5)
                data = b""
                while b"\r\n" not in data:
                    try:
                        chunk = connection.recv(4096)
                    except OSError:
                        break
                    if not chunk:
                        break
                    data += chunk
                self.lines.append(data.split(b"\r\n", 1)[0].decode("latin-1"))

    def close(self) -> None:
        self._server.close()
        self._thread.join(timeout=5)


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingProxy]:
    """The recording proxy, named by ``HTTP_PROXY`` and ``HTTPS_PROXY`` (and no ``NO_PROXY``)."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    recording = RecordingProxy()
    monkeypatch.setenv("HTTP_PROXY", recording.url)
    monkeypatch.setenv("HTTPS_PROXY", recording.url)
    yield recording
    recording.close()


def test_an_environment_proxy_never_sees_plain_http_to_loopback(
    proxy: RecordingProxy, emulator: TokenEmulator, make_registry: Callable[..., Registry]
) -> None:
    """F9: ``HTTP_PROXY`` must not receive a sidecar's plain-http request and its secret.

    http to 127.0.0.1 is allowed without ``allow_insecure_http`` because it never leaves
    the host; through a proxy it would, in the clear.
    """
    for method in ("client_secret_post", "client_secret_basic"):
        registry = make_registry({"sidecar": profile(emulator, auth_method=method)})
        assert registry.get_token("sidecar").access_token.startswith(TOKEN_MARK)
    assert emulator.request_count == 2
    assert proxy.lines == []


@pytest.fixture
def tls_emulator(tmp_path: Path) -> Iterator[tuple[TokenEmulator, Path]]:
    certificates = make_certificates(tmp_path / "tls")
    with TokenEmulator(
        [canary_client()],
        token_prefix=f"{TOKEN_MARK}-",
        ssl_context=certificates.server_context(),
    ) as running:
        yield running, certificates.ca_path


@pytest.mark.parametrize("spelling", ["none", {}], ids=["proxies-none", "proxies-empty"])
def test_proxies_none_turns_an_environment_https_proxy_off(
    spelling: Any,
    proxy: RecordingProxy,
    tls_emulator: tuple[TokenEmulator, Path],
    make_registry: Callable[..., Registry],
) -> None:
    """F9/F20: ``proxies: none`` (or ``proxies: {}``) means no proxy, not the environment's.

    Today an empty mapping falls back to ``HTTPS_PROXY``: the proxy gets a CONNECT.
    """
    emulator, ca_bundle = tls_emulator
    registry = make_registry(
        {"direct": profile(emulator, ca_bundle=str(ca_bundle), proxies=spelling)}
    )
    assert registry.get_token("direct").access_token.startswith(TOKEN_MARK)
    assert emulator.request_count == 1
    assert proxy.lines == []  # no CONNECT


def test_https_still_goes_through_an_environment_proxy_without_proxies_none(
    proxy: RecordingProxy,
    tls_emulator: tuple[TokenEmulator, Path],
    make_registry: Callable[..., Registry],
) -> None:
    """The control for the test above: the proxy is real, and https uses it by default."""
    emulator, ca_bundle = tls_emulator
    registry = make_registry(
        {"proxied": profile(emulator, ca_bundle=str(ca_bundle), retries={"attempts": 1})}
    )
    with pytest.raises(Exception):  # noqa: B017 - the proxy hangs up on the CONNECT
        registry.get_token("proxied")
    assert proxy.lines and proxy.lines[0].startswith("CONNECT 127.0.0.1:")
    assert emulator.request_count == 0


def test_a_name_under_localhost_is_not_loopback_and_is_never_resolved(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """F17: ``http://attacker.localhost/…`` is plain http to whatever DNS answers.

    It must be refused without ``allow_insecure_http``, and decided without a lookup.
    """
    looked_up: list[Any] = []

    def no_dns(*args: Any, **kwargs: Any) -> Any:
        looked_up.append(args[0])
        raise AssertionError(f"DNS lookup of {args[0]!r}")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    settings = {
        "provider": "generic",
        "token_url": "http://attacker.localhost/oauth/token",
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
    }
    with pytest.raises(ConfigError) as caught:
        Registry.from_dict({"version": 1, "profiles": {"sidecar": settings}}).runtime("sidecar")
    assert "profiles.sidecar.token_url" in str(caught.value)
    assert "plain http" in str(caught.value)
    assert looked_up == []


@pytest.mark.parametrize("key", ["token_url", "issuer"])
def test_credentials_in_a_url_are_refused_at_load_and_never_quoted(
    key: str, emulator: TokenEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    """F20: ``https://user:pass@host/…`` is a ConfigError naming the key, never the password.

    Today the URL is accepted, and then quoted in log lines and errors, password and all.
    """
    caplog.set_level(logging.DEBUG)
    password = "URLPASSWORD-hunter2"
    where = emulator.token_url if key == "token_url" else emulator.url
    url = where.replace("http://", f"http://svc:{password}@")
    settings = {"provider": "generic", "client_id": CLIENT_ID, "client_secret": SECRET, key: url}
    with pytest.raises(ConfigError) as caught:
        registry = Registry.from_dict({"version": 1, "profiles": {"billing": settings}})
        registry.get_token("billing")  # today: the fetch logs and fails, quoting the URL
    text = f"{caught.value} {caught.value!r}"
    assert f"profiles.billing.{key}" in text
    assert "user name or password" in text
    assert password not in text
    assert "svc:" not in text
    assert password not in caplog.text
    assert emulator.request_count == 0


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verify_false_warns_once_per_profile(
    tls_emulator: tuple[TokenEmulator, Path],
    make_registry: Callable[..., Registry],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """F20: ``verify: false`` (even from ``defaults``) is said out loud: one WARNING per profile.

    Today tokenrack logs nothing about it; only urllib3's own warning appears.
    """
    caplog.set_level(logging.WARNING, logger="tokenrack")
    emulator, ca_bundle = tls_emulator
    registry = make_registry(
        {
            "alpha": profile(emulator, scopes=["a"]),
            "beta": profile(emulator, scopes=["b"]),
            "checked": profile(emulator, scopes=["c"], verify=True, ca_bundle=str(ca_bundle)),
        },
        defaults={"verify": False},
    )
    for _ in range(3):
        for name in ("alpha", "beta", "checked"):
            registry.get_token(name, force_refresh=True)
    assert emulator.request_count == 9
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("tokenrack") and "verify: false" in r.getMessage()
    ]
    assert len(warnings) == 2
    assert sorted(w.split(":")[0] for w in warnings) == ["profile alpha", "profile beta"]


# -- tokenrack exec ------------------------------------------------------------------------

# Per profile, the variables its secrets are read from.
WITHHELD = {
    "filed": {"EXEC_TEMPLATE_SECRET": SECRET},
    "shared": {
        "EXEC_CLIENT_SECRET": SECRET,
        "EXEC_ENCRYPTION_KEY": "k" * 40,
        "EXEC_REDIS_PASSWORD": "redis-password-CANARY",
    },
}


@pytest.fixture
def exec_config(
    tmp_path: Path, emulator: TokenEmulator, redis_url: str, redis_prefix: str
) -> tuple[Path, dict[str, str]]:
    """Two profiles: one served warm from the file cache, one in real Redis, encrypted."""
    base = {"provider": "generic", "token_url": "${EMU_URL}/oauth/token", "client_id": CLIENT_ID}
    profiles = {
        # An inline template: the variable is read at the fetch. The file cache (the CLI's
        # default) lets a second call take the warm path.
        "filed": {**base, "client_secret": "${EXEC_TEMPLATE_SECRET}"},
        "shared": {
            **base,
            "client_secret": {"env": "EXEC_CLIENT_SECRET"},
            "cache": {
                "backend": "redis",
                "url": redis_url,
                "key_prefix": redis_prefix,
                # A Redis without a password accepts any for `default` (AUTH user pass).
                "username": "default",
                "password": {"env": "EXEC_REDIS_PASSWORD"},
                "encryption_key": {"env": "EXEC_ENCRYPTION_KEY"},
            },
        },
    }
    path = tmp_path / "tokenrack.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "profiles": profiles}))
    cache_home = tmp_path / "xdg-cache"
    cache_home.mkdir()
    environment = {
        **os.environ,
        **WITHHELD["filed"],
        **WITHHELD["shared"],
        "EMU_URL": emulator.url,
        "XDG_CACHE_HOME": str(cache_home),
        "UNRELATED_VARIABLE": "kept",
    }
    return path, without_coverage(environment)


def run_exec(path: Path, environment: dict[str, str], *args: str) -> tuple[dict[str, str], str]:
    """``tokenrack exec … -- env -0``: the child's environment, and tokenrack's import log."""
    tokenrack = [sys.executable, "-X", "importtime", TOKENRACK, "--config", str(path)]
    done = subprocess.run(
        [*tokenrack, "exec", *args, "--", "env", "-0"],
        capture_output=True,
        env=environment,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    pairs = (item.split("=", 1) for item in done.stdout.decode().split("\0") if "=" in item)
    return dict(pairs), done.stderr.decode()


@pytest.mark.parametrize("name", ["filed", "shared"])
def test_exec_gives_the_child_the_token_not_the_secrets_variables(
    name: str, exec_config: tuple[Path, dict[str, str]], emulator: TokenEmulator
) -> None:
    """F10: the command ``exec`` runs gets the token, not the client secret, the cache's
    encryption key or the Redis password behind it: on the full path and the warm one."""
    path, environment = exec_config
    cold, cold_log = run_exec(path, environment, name)
    warm, warm_log = run_exec(path, environment, name)
    assert "tokenrack.cli.main" in cold_log  # the first call took the full path
    if name == "filed":
        assert "tokenrack.cli.main" not in warm_log  # the second was served warm
    withheld = set(WITHHELD[name])
    others = {n for secrets in WITHHELD.values() for n in secrets} - withheld
    for child in (cold, warm):
        assert child["TOKENRACK_TOKEN"] == emulator.issued_tokens[0]
        assert not withheld & set(child), sorted(withheld & set(child))
        # Only this profile's: another profile's variables, and the rest, are passed on.
        assert others <= set(child) and child["UNRELATED_VARIABLE"] == "kept"
    assert emulator.request_count == 1


@pytest.mark.parametrize("name", ["filed", "shared"])
def test_keep_env_passes_the_secrets_variables_on(
    name: str, exec_config: tuple[Path, dict[str, str]], emulator: TokenEmulator
) -> None:
    """F10: ``--keep-env`` is the documented way back to the whole environment."""
    path, environment = exec_config
    for _ in range(2):  # the full path, then the warm one
        child, _ = run_exec(path, environment, name, "--keep-env", "--env", "MY_TOKEN")
        assert child["MY_TOKEN"] == emulator.issued_tokens[0]
        assert "TOKENRACK_TOKEN" not in child
        assert set(WITHHELD[name]) <= set(child)
    assert emulator.request_count == 1
