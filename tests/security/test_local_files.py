"""A hostile working directory or local user (issue 10 §4): only the user's own files are obeyed.

Each test plays one attack from docs/security.md's threat model and names its finding in
the review (F3, F12, F13, F14, F15, F16): planted configs, secret commands that flood, hang
or fork, YAML bombs, weak or exposed keys, mTLS material left on disk, pattern bypasses.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import (
    CLIENT_ID,
    SECRET,
    TOKEN_MARK,
    canary_client,
    wait_until,
    without_coverage,
)
from tokenrack.config.document import MAX_CONFIG_BYTES
from tokenrack.core.registry import Registry
from tokenrack.errors import ConfigError, InvalidClientError, SecretError
from tokenrack.testing import TokenEmulator

TOKENRACK = str(Path(sys.executable).with_name("tokenrack"))


@pytest.fixture
def victim() -> Iterator[TokenEmulator]:
    """The victim's real token server, named by the victim's own config."""
    with TokenEmulator([canary_client()], token_prefix=f"{TOKEN_MARK}-") as running:
        yield running


@pytest.fixture
def attacker() -> Iterator[TokenEmulator]:
    """The server a planted config sends the victim's secret to."""
    with TokenEmulator([canary_client()], token_prefix="EVIL-") as running:
        yield running


def _write(path: Path, profiles: dict[str, Any], mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"version": 1, "profiles": profiles}))
    path.chmod(mode)
    return path


def _victim_home(tmp_path: Path, victim: TokenEmulator) -> dict[str, str]:
    """The victim's environment: their XDG config names the real server."""
    xdg = tmp_path / "home" / "config"
    _write(
        xdg / "tokenrack" / "config.yaml",
        {
            "billing": {
                "provider": "generic",
                "token_url": victim.token_url,
                "client_id": CLIENT_ID,
                "client_secret": {"env": "CANARY_SECRET"},
            }
        },
    )
    xdg.chmod(0o700)
    (tmp_path / "home").chmod(0o700)
    environment = {**os.environ, "XDG_CONFIG_HOME": str(xdg), "CANARY_SECRET": SECRET}
    environment["XDG_CACHE_HOME"] = str(tmp_path / "home" / "cache")
    environment.pop("TOKENRACK_CONFIG", None)
    return without_coverage(environment)


def _planted(directory: Path, attacker: TokenEmulator, marker: Path, mode: int) -> Path:
    """An attacker's config: their server, the victim's secret, and a command to run."""
    return _write(
        directory / "tokenrack.yaml",
        {
            "billing": {
                "provider": "generic",
                "token_url": attacker.token_url,
                "client_id": CLIENT_ID,
                "client_secret": {"command": ["sh", "-c", f"touch {marker}; echo planted"]},
            }
        },
        mode,
    )


def _tokenrack(
    *args: str, cwd: Path, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TOKENRACK, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# -- F3: configs discovered in the working directory -------------------------------------


def test_world_writable_config_in_a_shared_directory_is_skipped(
    tmp_path: Path, victim: TokenEmulator, attacker: TokenEmulator
) -> None:
    """F3: another user's world-writable tokenrack.yaml in a 0777 directory is not obeyed."""
    environment = _victim_home(tmp_path, victim)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    marker = tmp_path / "command-ran"
    planted = _planted(shared, attacker, marker, 0o666)
    done = _tokenrack("token", "billing", cwd=shared, env=environment)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() in victim.issued_tokens  # the victim's own config was used
    assert attacker.request_count == 0
    assert not marker.exists()  # its {command:} never ran
    assert f"skipping config {planted}" in done.stderr
    assert "writable by" in done.stderr


def test_config_owned_by_another_user_is_skipped(
    tmp_path: Path, victim: TokenEmulator, attacker: TokenEmulator
) -> None:
    """F3: a tokenrack.yaml owned by another uid is not obeyed, whatever its mode."""
    environment = _victim_home(tmp_path, victim)
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    checkout.chmod(0o755)
    marker = tmp_path / "command-ran"
    planted = _planted(checkout, attacker, marker, 0o644)
    other = 1001 if os.geteuid() != 1001 else 1002
    try:
        os.chown(planted, other, -1)
    except PermissionError:
        pytest.skip("chown to another uid needs root; this test runs as an ordinary user")
    done = _tokenrack("token", "billing", cwd=checkout, env=environment)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() in victim.issued_tokens
    assert attacker.request_count == 0
    assert not marker.exists()
    assert f"skipping config {planted}" in done.stderr
    assert f"owned by uid {other}" in done.stderr


def test_explicit_group_writable_config_does_not_run_commands(
    tmp_path: Path, victim: TokenEmulator, attacker: TokenEmulator
) -> None:
    """F3: even named (--config, TOKENRACK_CONFIG), a config others can write runs no command."""
    environment = _victim_home(tmp_path, victim)
    directory = tmp_path / "team"
    directory.mkdir()
    directory.chmod(0o755)
    marker = tmp_path / "command-ran"
    planted = _planted(directory, attacker, marker, 0o664)
    named = {**environment, "TOKENRACK_CONFIG": str(planted)}
    for args, env in (
        (("--config", str(planted), "token", "billing"), environment),
        (("--config", str(planted), "check", "billing"), environment),
        (("token", "billing"), named),
    ):
        done = _tokenrack(*args, cwd=directory, env=env)
        assert done.returncode != 0
        assert str(planted) in done.stderr and "command" in done.stderr
        assert "writable by its group" in done.stderr
    assert not marker.exists()
    assert attacker.request_count == 0


# -- F12: {command:} secrets -------------------------------------------------------------


def _command_registry(argument: Any, **extra: Any) -> Registry:
    return Registry.from_dict(
        {
            "version": 1,
            "profiles": {
                "cmd": {
                    "provider": "generic",
                    "token_url": "https://idp.example/token",
                    "client_id": "svc",
                    "client_secret": {"command": argument},
                    **extra,
                }
            },
        }
    )


def test_command_printing_ten_megabytes_is_refused() -> None:
    """F12: a command printing 10 MB is a SecretError after 64 KiB, not a 10 MB secret."""
    registry = _command_registry(["sh", "-c", "head -c 10000000 /dev/zero | tr '\\0' x"])
    with pytest.raises(SecretError, match="printed more than 64 KiB"):
        registry.runtime("cmd").secrets()


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "gone"


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads process states in /proc")
def test_command_past_the_deadline_is_killed_with_its_children(tmp_path: Path) -> None:
    """F12: a command stuck past the profile's deadline is killed, background child too."""
    pid_file = tmp_path / "grandchild.pid"
    registry = _command_registry(
        ["sh", "-c", f"sleep 300 & echo $! > {pid_file}; sleep 300"], deadline=1
    )
    with pytest.raises(SecretError, match=r"did not finish within 1s"):
        registry.runtime("cmd").secrets()
    grandchild = int(pid_file.read_text())
    wait_until(lambda: _state(grandchild) in ("gone", "Z"))


def test_command_stderr_is_truncated_and_scrubbed() -> None:
    """F12: stderr shows in the error, cut to ~1 KiB, without what the command printed."""
    script = 'echo half-secret-value; echo "failed: half-secret-value" >&2; '
    script += "head -c 100000 /dev/zero | tr '\\0' e >&2; exit 4"
    registry = _command_registry(["sh", "-c", script])
    with pytest.raises(SecretError, match="exited with status 4") as caught:
        registry.runtime("cmd").secrets()
    message = str(caught.value)
    assert "stderr: failed: ***" in message
    assert "half-secret-value" not in message
    assert len(message) < 1500


def test_command_sees_a_minimal_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """F12: the command does not inherit the parent's variables, only those it lists."""
    monkeypatch.setenv("PARENT_CANARY", "not-for-this-command")
    monkeypatch.setenv("VAULT_ADDR", "https://vault.example")
    show = ["sh", "-c", 'echo "[$PARENT_CANARY] [$VAULT_ADDR] $PATH"']
    value = _command_registry(show).runtime("cmd").secrets()["client_secret"].reveal()
    assert value.startswith("[] [] /")
    listed = _command_registry({"run": show, "env": ["VAULT_*"]})
    value = listed.runtime("cmd").secrets()["client_secret"].reveal()
    assert value.startswith("[] [https://vault.example] /")


# -- F13: YAML -----------------------------------------------------------------------------


def _laughs() -> str:
    # Each level holds ten of the one below: 10^9 nodes once expanded, in about 1 kB.
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, 10):
        refs = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(lines) + "\nversion: 1\nprofiles: {p: {bomb: *a9}}\n"


def test_billion_laughs_is_refused(tmp_path: Path) -> None:
    """F13: aliases expanding to 10^9 nodes are a ConfigError naming the file, at once."""
    path = tmp_path / "laughs.yaml"
    path.write_text(_laughs())
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="expands to more than") as caught:
        Registry.from_file(path)
    assert str(path) in str(caught.value)


def test_oversized_config_is_refused(tmp_path: Path) -> None:
    """F13: a config past the size bound is refused before it is parsed, naming the file."""
    path = tmp_path / "big.yaml"
    filler = "".join(f"k{i}: {'v' * 40}\n" for i in range(MAX_CONFIG_BYTES // 40))
    path.write_text("version: 1\nprofiles: {}\nfiller:\n" + textwrap.indent(filler, "  "))
    assert path.stat().st_size > MAX_CONFIG_BYTES
    with pytest.raises(ConfigError, match=f"larger than {MAX_CONFIG_BYTES // 1024} KiB") as caught:
        Registry.from_file(path)
    assert str(path) in str(caught.value)


# -- F14: keys -----------------------------------------------------------------------------


def _pem(key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _jwt_registry(key_path: Path, victim: TokenEmulator) -> Registry:
    return Registry.from_dict(
        {
            "version": 1,
            "profiles": {
                "signed": {
                    "provider": "generic",
                    "token_url": victim.token_url,
                    "client_id": CLIENT_ID,
                    "auth_method": "private_key_jwt",
                    "private_key": str(key_path),
                }
            },
        }
    )


@pytest.mark.parametrize("kind", ["rsa-1024", "secp192r1", "secp256k1"])
def test_weak_signing_keys_are_refused(tmp_path: Path, victim: TokenEmulator, kind: str) -> None:
    """F14: an RSA-1024 key, or an EC key off P-256/384/521, is a ConfigError naming it."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key: Any
    if kind == "rsa-1024":
        key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    else:
        curve = ec.SECP192R1() if kind == "secp192r1" else ec.SECP256K1()
        try:
            key = ec.generate_private_key(curve)
        except Exception:
            pytest.skip(f"this OpenSSL cannot make {kind} keys")
    path = tmp_path / "key.pem"
    path.write_text(_pem(key))
    path.chmod(0o600)
    with pytest.raises(ConfigError) as caught:
        _jwt_registry(path, victim).get_token("signed")
    message = str(caught.value)
    assert "profiles.signed.private_key" in message
    if kind == "rsa-1024":
        assert "1024 bits, too few: use at least 2048" in message
    else:
        assert f"curve {kind}, which is not accepted: use P-256, P-384 or P-521" in message
    assert victim.request_count == 0


def test_readable_private_key_file_warns(
    tmp_path: Path, victim: TokenEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    """F14: a private key file others can read (0644) is named in a warning, like ssh."""
    from tests.keys import private_key

    path = tmp_path / "readable-key.pem"
    path.write_text(_pem(private_key("p256")))
    path.chmod(0o644)
    caplog.set_level(logging.WARNING)
    registry = _jwt_registry(path, victim)
    # The emulator does not know this key: the refusal is beside the point, the warning not.
    with pytest.raises(InvalidClientError):
        registry.get_token("signed")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(str(path) in w and "readable by its group and others" in w for w in warnings)


# -- F15: mTLS material ------------------------------------------------------------------

_MTLS_CHILD = textwrap.dedent(
    """\
    import os, sys
    from tokenrack.core.registry import Registry
    registry = Registry.from_dict({"version": 1, "profiles": {"m": {
        "provider": "generic", "token_url": sys.argv[1], "client_id": "m",
        "auth_method": "tls_client_auth", "client_cert": {"env": "M_CERT"},
        "client_key": {"env": "M_KEY"}, "verify": False, "deadline": 300,
        "timeout": 300, "retries": {"attempts": 1}}}})
    registry.get_token("m")
    """
)


def test_mtls_material_does_not_outlive_a_killed_process(tmp_path: Path) -> None:
    """F15: a process killed by SIGKILL mid-fetch leaves no private key under TMPDIR."""
    from tokenrack.testing.tls import make_client_certificate

    client = make_client_certificate(tmp_path / "client", common_name="m")
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    temporary.chmod(0o700)
    environment = without_coverage(
        {
            **os.environ,
            "TMPDIR": str(temporary),
            "M_CERT": client.cert_path.read_text(),
            "M_KEY": client.key_path.read_text(),
        }
    )
    # A server that accepts the connection and never answers: the child is mid-handshake,
    # its key material loaded, when it is killed.
    with socket.create_server(("127.0.0.1", 0)) as server:
        url = f"https://127.0.0.1:{server.getsockname()[1]}/token"
        child = subprocess.Popen(
            [sys.executable, "-c", _MTLS_CHILD, url],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            server.settimeout(60)
            connection, _ = server.accept()
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        connection.close()
    assert child.returncode == -signal.SIGKILL
    left = [
        path
        for path in temporary.rglob("*")
        if path.is_file() and "PRIVATE KEY" in path.read_text(errors="replace")
    ]
    assert left == [], f"key material left on disk: {left}"


def test_stale_material_directories_of_dead_processes_are_swept(tmp_path: Path) -> None:
    """F15: where memfd is unavailable, a dead process's tokenrack-tls-<pid>-* is removed."""
    from tokenrack.auth.material import sweep_stale_directories

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(dead.stdout)
    stale = tmp_path / f"tokenrack-tls-{dead_pid}-abc"
    stale.mkdir()
    (stale / "client_key-1.pem").write_text("-----BEGIN PRIVATE KEY-----\n")
    live = tmp_path / f"tokenrack-tls-{os.getppid()}-def"
    live.mkdir()
    assert sweep_stale_directories(str(tmp_path)) == [str(stale)]
    assert not stale.exists() and live.exists()


# -- F16: schema patterns ----------------------------------------------------------------


@pytest.mark.parametrize("source", ["literal", "variable"])
def test_vendor_host_pattern_cannot_be_bypassed_with_a_reference(
    tmp_path: Path, source: str
) -> None:
    """F16: auth0 `domain` holding a path through `$${` or a `${VAR}` value is refused."""
    evil = "evil.example/collect#${"
    domain = evil.replace("${", "$${") if source == "literal" else "${TENANT}"
    path = _write(
        tmp_path / "tokenrack.yaml",
        {
            "a": {
                "provider": "auth0",
                "domain": domain,
                "client_id": "svc",
                "client_secret": "x",
                "audience": "https://api.example",
            }
        },
    )
    with pytest.raises(ConfigError) as caught:
        Registry.from_file(path, environ={"TENANT": evil}).runtime("a")
    assert "profiles.a.domain" in str(caught.value)
    if source == "variable":
        # A plain host through the same variable still loads.
        Registry.from_file(path, environ={"TENANT": "acme.eu.auth0.com"}).close()


def test_editor_schema_still_admits_references() -> None:
    """F16: the exported editor schema keeps accepting `${VAR}`, as a file is written."""
    root = Path(__file__).parents[2]
    exported = json.loads((root / "config" / "tokenrack.schema.json").read_text())
    branches = exported["properties"]["profiles"]["additionalProperties"]["allOf"]
    (auth0,) = [b for b in branches if b["if"]["properties"]["provider"]["const"] == "auth0"]
    assert auth0["then"]["properties"]["domain"]["pattern"].endswith("|.*\\$\\{.*)$")
