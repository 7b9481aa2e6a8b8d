"""``tokenrack check`` reads everything a fetch would need (issue 11, ux F5, F19, F25).

Every test runs the real console script in a subprocess against the emulator; nothing in
them is fetched unless ``--fetch`` says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli.diag_support import (
    REDIS_PASSWORD,
    closed_port,
    emulator,
    generic,
    problems,
    run,
    use_private_cache,
    write,
)
from tests.conftest import SECRET
from tests.keys import private_pem
from tokenrack.testing import TokenEmulator
from tokenrack.testing.tls import make_client_certificate


@pytest.fixture
def emu() -> Iterator[TokenEmulator]:
    with emulator() as started:
        yield started


@pytest.fixture(autouse=True)
def private_cache_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    return use_private_cache(tmp_path_factory, monkeypatch)


def test_check_names_every_unusable_thing_of_every_profile(
    tmp_path: Path, emu: TokenEmulator
) -> None:
    """F5: secrets, keys, the cache's secrets and server, a missing provider: all at once."""
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nZ2FyYmFnZQ==\n-----END PRIVATE KEY-----\n")
    garbage.chmod(0o600)
    port = closed_port()
    jwt = {"auth_method": "private_key_jwt", "client_secret": None}
    profiles = {
        "good": generic(emu),
        "nosecret": generic(emu, client_secret={"env": "TR_CHECK_UNSET"}),
        "garbagekey": {**generic(emu, **jwt, private_key={"file": str(garbage)})},
        "nokey": {**generic(emu, **jwt, private_key={"file": str(tmp_path / "absent.pem")})},
        "redisdown": generic(
            emu,
            cache={
                "backend": "redis",
                "url": f"redis://:{REDIS_PASSWORD}@127.0.0.1:{port}/0",
                "plaintext": True,
            },
        ),
        "nopassword": generic(
            emu,
            cache={
                "backend": "redis",
                "url": f"redis://127.0.0.1:{port}/0",
                "plaintext": True,
                "password": {"file": str(tmp_path / "no-redis-password")},
            },
        ),
        "nokeyenv": generic(
            emu,
            cache={
                "backend": "file",
                "path": str(tmp_path / "cache"),
                "encryption_key": {"env": "TR_CHECK_KEY_UNSET"},
            },
        ),
        "typo": generic(emu, provider="okat"),
    }
    for profile in profiles.values():
        if profile.get("client_secret") is None:
            del profile["client_secret"]
    done = run("check", config=write(tmp_path, profiles))
    assert done.returncode != 0
    assert "Traceback" not in done.stdout + done.stderr
    first = done.stdout.splitlines()[0]
    assert first.endswith("1 of 8 profiles unusable (typo)"), first
    assert ": ok" not in first
    found = problems(done.stdout)
    assert set(found) == set(profiles) - {"good"}, done.stdout
    assert "good: config ok, secrets ok" in done.stdout
    assert "profiles.nosecret.client_secret" in found["nosecret"][0]
    assert "profiles.garbagekey.private_key" in found["garbagekey"][0]
    assert "profiles.nokey.private_key" in found["nokey"][0]
    assert found["redisdown"][0].startswith("profiles.redisdown.cache: ")
    assert "Connection refused" in found["redisdown"][0]
    assert "profiles.nopassword.cache.password" in found["nopassword"][0]
    assert "profiles.nokeyenv.cache.encryption_key" in found["nokeyenv"][0]
    assert "profiles.typo" in found["typo"][0] and "okat" in found["typo"][0]
    assert REDIS_PASSWORD not in done.stdout + done.stderr
    assert emu.request_count == 0


def test_one_cache_with_two_problems_shows_both(tmp_path: Path, emu: TokenEmulator) -> None:
    port = closed_port()
    cache = {
        "backend": "redis",
        "url": f"redis://127.0.0.1:{port}/0",
        "password": {"file": str(tmp_path / "no-redis-password")},
        "encryption_key": {"env": "TR_CHECK_KEY_UNSET"},
    }
    done = run("check", config=write(tmp_path, {"billing": generic(emu, cache=cache)}))
    assert done.returncode == 5
    found = problems(done.stdout)["billing"]
    assert len(found) == 2, done.stdout
    assert "profiles.billing.cache.password" in found[0]
    assert "profiles.billing.cache.encryption_key" in found[1]


def test_an_encrypted_private_key_is_read_with_its_passphrase(
    tmp_path: Path, emu: TokenEmulator
) -> None:
    """F5: the key is parsed the way a fetch parses it (through the auth method)."""
    from cryptography.hazmat.primitives import serialization

    from tests.keys import private_key

    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(
        private_key("rsa").private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pa55 phrase"),
        )
    )
    encrypted.chmod(0o600)
    plain = tmp_path / "plain.pem"
    plain.write_text(private_pem("rsa"))
    plain.chmod(0o600)
    jwt = {"auth_method": "private_key_jwt"}
    key = {"private_key": {"file": str(encrypted)}}
    profiles = {
        "sealed": {**generic(emu, **jwt, **key)},
        "open": {**generic(emu, **jwt, private_key={"file": str(plain)})},
        # The passphrase key is the auth method's own: check reads it the way a fetch does.
        "unsealed": {**generic(emu, **jwt, **key, private_key_passphrase="pa55 phrase")},
        "wrongphrase": {**generic(emu, **jwt, **key, private_key_passphrase="not it")},
    }
    for profile in profiles.values():
        del profile["client_secret"]
    done = run("check", config=write(tmp_path, profiles))
    assert done.returncode == 2, done.stdout + done.stderr
    found = problems(done.stdout)
    assert set(found) == {"sealed", "wrongphrase"}, done.stdout
    assert "profiles.sealed.private_key" in found["sealed"][0]
    assert "profiles.wrongphrase.private_key" in found["wrongphrase"][0]
    assert "open: config ok, secrets ok, private_key_jwt assertion ok" in done.stdout
    assert "unsealed: config ok, secrets ok, private_key_jwt assertion ok" in done.stdout
    assert "pa55 phrase" not in done.stdout + done.stderr and "not it" not in done.stdout


def test_client_certificate_and_key_are_loaded_with_their_passphrase(
    tmp_path: Path, emu: TokenEmulator
) -> None:
    sealed = make_client_certificate(tmp_path, common_name="sealed", passphrase="pa55 phrase")
    other = make_client_certificate(tmp_path, common_name="other")

    def mtls(cert: Path, key: Path, **extra: Any) -> dict[str, Any]:
        profile = generic(
            emu,
            auth_method="tls_client_auth",
            client_cert={"file": str(cert)},
            client_key={"file": str(key)},
            **extra,
        )
        del profile["client_secret"]
        return profile

    profiles = {
        "right": mtls(sealed.cert_path, sealed.key_path, client_key_passphrase="pa55 phrase"),
        "wrongphrase": mtls(sealed.cert_path, sealed.key_path, client_key_passphrase="nope!"),
        "mismatch": mtls(sealed.cert_path, other.key_path),
    }
    done = run("check", config=write(tmp_path, profiles))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "right: config ok, secrets ok, client certificate ok" in done.stdout
    found = problems(done.stdout)
    assert set(found) == {"wrongphrase", "mismatch"}
    assert all("profiles." in problem and "client_cert" in problem for problem in found["mismatch"])
    assert "nope!" not in done.stdout + done.stderr and "pa55" not in done.stdout


def test_a_good_shared_cache_is_read_and_nothing_is_fetched(
    tmp_path: Path, emu: TokenEmulator, redis_url: str, redis_prefix: str
) -> None:
    cache = {
        "backend": "redis",
        "url": redis_url,
        "key_prefix": redis_prefix,
        "encryption_key": {"env": "CANARY_SECRET"},
    }
    done = run("check", config=write(tmp_path, {"billing": generic(emu, cache=cache)}))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0].endswith(": ok (1 profile)")
    assert "billing: config ok, secrets ok, cache ok (redis redis://" in done.stdout
    # F6: without --fetch, the secret is read, not verified; check says so.
    assert "`tokenrack check --fetch` asks the server" in done.stdout
    assert emu.request_count == 0
    fetched = run(
        "check", "--fetch", config=write(tmp_path, {"billing": generic(emu, cache=cache)})
    )
    assert fetched.returncode == 0 and "token ok in" in fetched.stdout
    assert emu.request_count == 1


def test_the_cli_file_cache_is_checked_too(
    tmp_path: Path, emu: TokenEmulator, private_cache_dir: Path
) -> None:
    """A profile without ``cache`` uses the CLI's file cache: an unsafe directory fails."""
    directory = private_cache_dir / "tokenrack"
    directory.mkdir(exist_ok=True)
    directory.chmod(0o777)
    try:
        done = run("check", config=write(tmp_path, {"a": generic(emu), "b": generic(emu)}))
    finally:
        directory.chmod(0o700)
    assert done.returncode == 5
    assert done.stdout.splitlines()[0].endswith(": ok (2 profiles)")
    found = problems(done.stdout)
    assert "writable by group or others" in found["a"][0]
    assert found["a"][0].startswith("profiles.a.cache: ")


def test_check_prints_config_errors_without_pointing_to_itself(tmp_path: Path) -> None:
    """F25: the hint "`tokenrack check` validates the whole config" is not given by check."""
    config = tmp_path / "tokenrack.yaml"
    config.write_text(
        yaml.safe_dump({"version": 1, "profiles": {"a": {"provider": "generic", "tokn_url": "x"}}})
    )
    checked = run("check", config=config)
    # A profile's own problem is reported under that profile (issue 11 isolation).
    assert checked.returncode == 2 and "tokn_url" in checked.stdout + checked.stderr
    assert "validates the whole config" not in checked.stderr
    token = run("token", "a", config=config)
    assert token.returncode == 2 and "validates the whole config" in token.stderr
    for args in (("check",), ("token", "a")):
        missing = run(*args, config=tmp_path / "absent.yaml")
        assert missing.returncode == 2 and "absent.yaml" in missing.stderr
        assert "validates the whole config" not in missing.stderr
    assert SECRET not in checked.stderr
