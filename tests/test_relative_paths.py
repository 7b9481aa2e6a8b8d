"""``ca_bundle`` and a cache's file paths, written relative, are the config file's (issue 11).

As ``{file: …}`` secrets and key paths already are: the process may run from anywhere.
Each test loads a real config file while the current directory is another one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import canary_client, profile
from tests.test_redis_servers import answers, free_port, run_redis  # noqa: F401 (fixture)
from tokenrack.core.registry import Registry
from tokenrack.testing import TokenEmulator
from tokenrack.testing.tls import make_certificates, make_client_certificate


def _from_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, profiles: dict[str, Any]
) -> Registry:
    """A registry from ``conf/tokenrack.yaml``, loaded while the current directory is not conf."""
    config = tmp_path / "conf" / "tokenrack.yaml"
    config.write_text(yaml.safe_dump({"version": 1, "profiles": profiles}))
    config.chmod(0o600)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    # By its relative name too: the directory is the file's, not the one it was named from.
    return Registry.from_file(os.path.relpath(config))


def test_a_relative_ca_bundle_is_the_config_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    certs = make_certificates(tmp_path / "conf" / "tls")
    with TokenEmulator([canary_client()], ssl_context=certs.server_context()) as tls:
        registry = _from_elsewhere(
            tmp_path, monkeypatch, {"a": profile(tls, ca_bundle="tls/ca.pem")}
        )
        with registry:
            assert registry.get_token("a").access_token in tls.issued_tokens
    assert certs.ca_path == tmp_path / "conf" / "tls" / "ca.pem"


def test_a_relative_file_cache_path_is_the_config_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator: TokenEmulator
) -> None:
    cache = {"backend": "file", "path": "tokens"}
    (tmp_path / "conf").mkdir()
    with _from_elsewhere(tmp_path, monkeypatch, {"a": profile(emulator, cache=cache)}) as registry:
        registry.get_token("a")
    assert any((tmp_path / "conf" / "tokens").iterdir())
    assert not (tmp_path / "elsewhere" / "tokens").exists()


def test_relative_redis_tls_files_are_the_config_files(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    emulator: TokenEmulator,
    run_redis: Callable[..., None],  # noqa: F811
) -> None:
    certs = make_certificates(tmp_path / "conf" / "tls")
    client = make_client_certificate(tmp_path / "conf" / "tls", common_name="tokenrack", ca=certs)
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
        "yes",
        ready=answers(
            host="127.0.0.1",
            port=port,
            ssl=True,
            ssl_ca_certs=str(certs.ca_path),
            ssl_certfile=str(client.cert_path),
            ssl_keyfile=str(client.key_path),
        ),
    )
    cache = {
        "backend": "redis",
        "plaintext": True,
        "url": f"rediss://127.0.0.1:{port}/0",
        "ca_bundle": "tls/ca.pem",
        "client_cert": f"tls/{client.cert_path.name}",
        "client_key": f"tls/{client.key_path.name}",
    }
    with _from_elsewhere(tmp_path, monkeypatch, {"a": profile(emulator, cache=cache)}) as registry:
        registry.get_token("a")
        shared = registry.shared_cache("a")
        assert shared is not None
        assert shared.record() is not None  # read back from Redis, over TLS with its client cert


def test_the_cli_serves_a_relative_file_cache_and_secret_file_warm_from_elsewhere(
    tmp_path: Path, emulator: TokenEmulator
) -> None:
    """The warm path reads the cache directory and the {file:} secret the full path used."""
    import subprocess
    import sys

    from tests.conftest import CLIENT_ID, SECRET, without_coverage

    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "secret.txt").write_text(SECRET)
    (conf / "secret.txt").chmod(0o600)
    document = {
        "version": 1,
        "profiles": {
            "a": {
                "provider": "generic",
                "token_url": emulator.token_url,
                "client_id": CLIENT_ID,
                "client_secret": {"file": "secret.txt"},
                "cache": {"backend": "file", "path": "tokens"},
            }
        },
    }
    config = conf / "tokenrack.yaml"
    config.write_text(yaml.safe_dump(document))
    config.chmod(0o600)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    environment = without_coverage({**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg")})
    command = [str(Path(sys.executable).with_name("tokenrack")), "--config", str(config)]

    def call(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*extra, *command, "token", "a"],
            cwd=elsewhere,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )

    cold = call()
    warm = call(sys.executable, "-X", "importtime")
    assert cold.stdout == warm.stdout and emulator.request_count == 1
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in warm.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "tokenrack.cli.main" not in imported  # served warm, from conf/tokens
    assert any((conf / "tokens").iterdir())
