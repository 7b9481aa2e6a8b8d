"""The built-in ``env`` and ``file`` sources in their context (issue 11, ux F18).

``{env: NAME}`` reads the ``environ=`` mapping given to the registry; a relative
``{file: …}`` (and a relative key path) is the config file's, wherever the process runs; a
secret file others can write or read is used with a warning that names it and the key that
refers to it, never its content.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.cli.test_cli import TOKENRACK
from tests.conftest import CLIENT_ID, SECRET, TOKEN_MARK, profile, without_coverage
from tests.keys import private_pem, public_pem
from tokenrack.core.registry import Registry
from tokenrack.errors import SecretError
from tokenrack.secret.sources import (
    EnvSecretSource,
    FileSecretSource,
    SecretContext,
    anchored_path,
)
from tokenrack.testing import EmulatorClient, TokenEmulator

MakeRegistry = Callable[..., Registry]


def write_private(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def write_config(directory: Path, profiles: dict[str, object]) -> Path:
    config = directory / "tokenrack.yaml"
    config.write_text(yaml.safe_dump({"version": 1, "profiles": profiles}))
    config.chmod(0o600)
    return config


# -- {env: NAME} ---------------------------------------------------------------------------


def test_env_reads_the_registry_environ_not_the_process_environment(
    emulator: TokenEmulator, make_registry: MakeRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BILLING_SECRET", "the process's, not the one to use")
    registry = make_registry(
        {"a": profile(emulator, client_secret={"env": "BILLING_SECRET"})},
        environ={"BILLING_SECRET": SECRET},
    )
    assert registry.get_token("a").access_token in emulator.issued_tokens


def test_env_in_an_environ_mapping_that_lacks_it_is_not_set(
    emulator: TokenEmulator, make_registry: MakeRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BILLING_SECRET", SECRET)
    registry = make_registry(
        {"a": profile(emulator, client_secret={"env": "BILLING_SECRET"})}, environ={}
    )
    with pytest.raises(SecretError, match="environment variable BILLING_SECRET is not set"):
        registry.get_token("a")
    assert emulator.request_count == 0


def test_env_from_file_reads_environ(
    emulator: TokenEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FILE_SECRET", raising=False)
    config = write_config(tmp_path, {"a": profile(emulator, client_secret={"env": "FILE_SECRET"})})
    with Registry.from_file(config, environ={"FILE_SECRET": SECRET}) as registry:
        assert registry.get_token("a").access_token in emulator.issued_tokens


def test_env_source_without_a_context_still_reads_os_environ(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PLAIN_VAR", "value")
    assert EnvSecretSource().resolve("PLAIN_VAR") == "value"
    with pytest.raises(SecretError, match="is not set"):
        EnvSecretSource().resolve_in("PLAIN_VAR", SecretContext(environ={}))


# -- relative paths ------------------------------------------------------------------------


def test_anchored_path() -> None:
    assert anchored_path("s.txt", "/etc/app") == "/etc/app/s.txt"
    assert anchored_path("./d/s.txt", "/etc/app") == "/etc/app/./d/s.txt"
    assert anchored_path("/abs/s.txt", "/etc/app") == "/abs/s.txt"
    assert anchored_path("s.txt", None) == "s.txt"
    assert anchored_path("~/s.txt", "/etc/app") == os.path.expanduser("~/s.txt")


def test_relative_file_secret_is_the_config_files_from_any_cwd(
    emulator: TokenEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "conf"
    home.mkdir()
    write_private(home / "secret.txt", SECRET + "\n")
    config = write_config(home, {"a": profile(emulator, client_secret={"file": "./secret.txt"})})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with Registry.from_file(config) as registry:
        assert registry.get_token("a").access_token in emulator.issued_tokens


def test_relative_file_secret_of_a_dict_config_is_the_current_directorys(
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_private(tmp_path / "secret.txt", SECRET)
    monkeypatch.chdir(tmp_path)
    registry = make_registry({"a": profile(emulator, client_secret={"file": "secret.txt"})})
    assert registry.get_token("a").access_token in emulator.issued_tokens


def test_cli_with_a_relative_secret_and_key_path_from_another_cwd(tmp_path: Path) -> None:
    """``tokenrack --config conf/tokenrack.yaml token`` run from elsewhere (a subprocess)."""
    home = tmp_path / "conf"
    (home / "keys").mkdir(parents=True)
    write_private(home / "secret.txt", SECRET)
    write_private(home / "keys" / "svc.pem", private_pem("rsa"))
    clients = [
        EmulatorClient(CLIENT_ID, SECRET),
        EmulatorClient("jwt-svc", public_key=public_pem("rsa")),
    ]
    with TokenEmulator(clients, token_prefix=f"{TOKEN_MARK}-") as emulator:
        config = write_config(
            home,
            {
                "billing": profile(emulator, client_secret={"file": "secret.txt"}),
                "signed": {
                    "provider": "generic",
                    "token_url": emulator.token_url,
                    "client_id": "jwt-svc",
                    "auth_method": "private_key_jwt",
                    "private_key": "keys/svc.pem",
                },
            },
        )
        cwd = tmp_path / "cwd"
        cwd.mkdir()
        environment = without_coverage({**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg")})
        for name in ("billing", "signed"):
            done = subprocess.run(
                [TOKENRACK, "--config", str(config), "token", name],
                capture_output=True,
                text=True,
                cwd=cwd,
                env=environment,
                timeout=60,
                check=False,
            )
            assert done.returncode == 0, done.stderr
            assert done.stdout.strip() in emulator.issued_tokens
            assert SECRET not in done.stderr
        assert [r.client_id for r in emulator.requests] == [CLIENT_ID, "jwt-svc"]


# -- file modes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "words"),
    [
        (0o666, "is writable by its group and others (mode 0666): they can replace it"),
        (0o620, "is writable by its group (mode 0620): they can replace it"),
        (0o644, "is readable by its group and others (mode 0644)"),
        (0o640, "is readable by its group (mode 0640)"),
    ],
)
def test_a_secret_file_others_can_touch_is_warned_about(
    mode: int,
    words: str,
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = write_private(tmp_path / f"secret-{mode:o}.txt", SECRET, mode)
    registry = make_registry({"billing": profile(emulator, client_secret={"file": str(secret)})})
    with caplog.at_level(logging.WARNING, logger="tokenrack"):
        assert registry.get_token("billing").access_token in emulator.issued_tokens
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith(f"secret file {secret} (used by profiles.billing.client_secret) ")
    assert words in warning
    assert SECRET not in warning


def test_a_private_secret_file_is_not_warned_about(
    emulator: TokenEmulator,
    make_registry: MakeRegistry,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = write_private(tmp_path / "secret.txt", SECRET, 0o600)
    registry = make_registry({"billing": profile(emulator, client_secret={"file": str(secret)})})
    with caplog.at_level(logging.WARNING, logger="tokenrack"):
        registry.get_token("billing")
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_file_source_resolve_in_reads_relative_to_the_context(tmp_path: Path) -> None:
    write_private(tmp_path / "s.txt", "value\n")
    context = SecretContext(directory=str(tmp_path), location="profiles.p.client_secret")
    assert FileSecretSource().resolve_in("s.txt", context) == "value"
    with pytest.raises(SecretError, match=f"cannot read secret file {tmp_path}/absent"):
        FileSecretSource().resolve_in("absent", context)
