"""Attacks by a Redis writer or reader on shared records (issue 10 §2; F1, F5, F6, F11, F18, F19).

Every test runs against the real Redis on 127.0.0.1 under a key prefix of its own, with the
emulator as the real IdP and a second emulator as the attacker's endpoint. The attacker
writes what anyone with ``SET`` under the prefix can write: it knows the config (issuer,
client id, scopes: public values), but not the client secret nor the ``encryption_key``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from tests.conftest import CLIENT_ID, SECRET, TOKEN_MARK, FakeClock, canary_client
from tokenrack.cache import envelope
from tokenrack.cache.key import cache_key
from tokenrack.cache.record import StoredToken, encode_record
from tokenrack.cache.redis import RedisCache
from tokenrack.core.registry import Registry
from tokenrack.errors import ConfigError, TokenResponseError
from tokenrack.oauth.discovery import ServerMetadata, encode_metadata
from tokenrack.testing import TokenEmulator
from tokenrack.token import Token

MakeRegistry = Callable[..., Registry]

FLEET_KEY = "fleet-key-0123456789-0123456789-0123456789"
REDIS_PASSWORD = "CANARYSECRET-redis-pw"
RECORD_CAP = 64 * 1024  # the documented cap (envelope.RECORD_CAP)
TOKENRACK = str(Path(sys.executable).with_name("tokenrack"))


@pytest.fixture
def idp() -> Iterator[TokenEmulator]:
    """The real IdP: knows the canary client."""
    with TokenEmulator([canary_client()], token_prefix=f"{TOKEN_MARK}-real-") as emulator:
        yield emulator


@pytest.fixture
def attacker() -> Iterator[TokenEmulator]:
    """The attacker's endpoint: records whatever reaches it."""
    with TokenEmulator([canary_client()], token_prefix="ATTACKER-") as emulator:
        yield emulator


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    made = redis.Redis.from_url(redis_url)
    yield made
    made.close()


def redis_cache(redis_url: str, prefix: str, **extra: Any) -> dict[str, Any]:
    return {"backend": "redis", "url": redis_url, "key_prefix": prefix, **extra}


def generic(emulator: TokenEmulator, **options: Any) -> dict[str, Any]:
    return {
        "provider": "generic",
        "token_url": emulator.token_url,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "retries": {"attempts": 2, "backoff": 0.01},
        **options,
    }


def discovering(idp: TokenEmulator, **options: Any) -> dict[str, Any]:
    profile = generic(idp, **options)
    del profile["token_url"]
    return {**profile, "issuer": idp.issuer}


def run_cli(tmp_path: Path, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "CANARY_SECRET": SECRET,
        "CANARY_REDIS_PASSWORD": REDIS_PASSWORD,
        "CANARY_FLEET_KEY": FLEET_KEY,
        **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"},
    }
    return subprocess.run(
        [TOKENRACK, "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def token_key(prefix: str, registry: Registry, profile: str = "a") -> str:
    return f"{prefix}token:{registry.runtime(profile).cache_key}"


# -- F1: metadata planted in the shared cache ---------------------------------------------


@pytest.mark.parametrize(
    "sealing", [{"encryption_key": FLEET_KEY}, {"plaintext": True}], ids=["sealed", "plaintext"]
)
def test_planted_metadata_never_redirects_the_client_secret(
    idp: TokenEmulator,
    attacker: TokenEmulator,
    make_registry: MakeRegistry,
    redis_url: str,
    redis_prefix: str,
    client: redis.Redis,
    sealing: dict[str, Any],
) -> None:
    """F1: a Redis writer plants metadata naming its own token endpoint for the issuer.

    With an ``encryption_key`` only sealed metadata is read; without one metadata is never
    read from the cache. Either way the secret goes to the real IdP, never to the attacker.
    """
    idp.metadata = {}
    planted = ServerMetadata(
        issuer=idp.issuer,  # copied from the config: public
        token_endpoint=attacker.token_url,
        auth_methods=("client_secret_post",),
        mtls_token_endpoint=None,
        source=idp.issuer,
    )
    client.set(
        f"{redis_prefix}token:metadata:" + cache_key({"issuer": idp.issuer}),
        encode_metadata(planted, expires_at=time.time() + 86_400),
    )
    registry = make_registry(
        {"a": discovering(idp, cache=redis_cache(redis_url, redis_prefix, **sealing))}
    )
    token = registry.get_token("a")
    assert token.access_token in idp.issued_tokens
    assert attacker.request_count == 0
    assert idp.metadata_requests == 1 and idp.request_count == 1


def test_a_token_endpoint_on_another_host_is_refused_unless_the_profile_allows_it(
    idp: TokenEmulator, attacker: TokenEmulator, make_registry: MakeRegistry
) -> None:
    """F1/F20: the issuer's own metadata names a token endpoint on another host.

    Refused by default (the error names the issuer, the host and the option); sent there
    only when the profile lists the host in ``token_endpoint_hosts``.
    """
    elsewhere = attacker.token_url.replace("127.0.0.1", "localhost")
    idp.metadata = {"token_endpoint": elsewhere}
    registry = make_registry({"a": discovering(idp)})
    with pytest.raises(TokenResponseError) as caught:
        registry.get_token("a")
    message = str(caught.value)
    assert idp.issuer in message and "'localhost'" in message
    assert "token_endpoint_hosts" in message
    assert attacker.request_count == 0
    allowed = make_registry({"a": discovering(idp, token_endpoint_hosts=["localhost"])})
    assert allowed.get_token("a").access_token in attacker.issued_tokens


# -- F6: sealed records authenticate everything the reader uses ---------------------------


def test_a_sealed_record_replanted_with_forged_times_after_expiry_is_not_served(
    idp: TokenEmulator,
    make_registry: MakeRegistry,
    redis_url: str,
    redis_prefix: str,
    client: redis.Redis,
    clock: FakeClock,
) -> None:
    """F6: an expired sealed record, re-planted with new outer times and no TTL, is a miss.

    The second process's clock stands later than the first token's expiry; the attacker
    rewrites ``obtained_at``, ``lifetime`` and ``expires_at`` to look fresh at that time.
    """
    cache = redis_cache(redis_url, redis_prefix, encryption_key=FLEET_KEY)
    first = make_registry({"a": generic(idp, cache=cache)})
    old = first.get_token("a")
    key = token_key(redis_prefix, first)
    record = json.loads(client.get(key))
    clock.advance(max(0.0, old.expires_at + 7200 - clock.time()))
    later = clock.time()
    assert later > old.expires_at  # the first token is long expired by then
    record.update(stored_at=later, obtained_at=later, lifetime=86_400.0, expires_at=later + 86_400)
    client.set(key, json.dumps(record))  # no TTL
    second = make_registry({"a": generic(idp, cache=cache)}, clock=clock)
    served = second.get_token("a")
    assert served.access_token != old.access_token
    assert idp.request_count == 2


@pytest.mark.parametrize("tamper", ["copied to another key", "sealed part changed"])
def test_a_sealed_record_copied_or_changed_is_not_served(
    idp: TokenEmulator,
    make_registry: MakeRegistry,
    redis_url: str,
    redis_prefix: str,
    client: redis.Redis,
    tamper: str,
) -> None:
    """F6: a sealed record copied under another cache key, or changed, is a miss.

    (Refused before format 2 too; kept as a guard now that the seal covers more.)
    """
    cache = redis_cache(redis_url, redis_prefix, encryption_key=FLEET_KEY)
    profiles = {
        "a": generic(idp, cache=cache, scopes=["read"]),
        "b": generic(idp, cache=cache, scopes=["admin"]),
    }
    first = make_registry(profiles)
    token_a = first.get_token("a")
    record = json.loads(client.get(token_key(redis_prefix, first, "a")))
    if tamper == "copied to another key":
        record["key"] = first.runtime("b").cache_key
        target, profile = token_key(redis_prefix, first, "b"), "b"
    else:
        data = record["sealed"]["data"]
        record["sealed"]["data"] = data[:10] + ("A" if data[10] != "A" else "B") + data[11:]
        target, profile = token_key(redis_prefix, first, "a"), "a"
    client.set(target, json.dumps(record))
    served = make_registry(profiles).get_token(profile)
    assert served.access_token != token_a.access_token
    assert idp.request_count == 2


def test_clear_members_beside_the_seal_are_never_what_the_reader_serves(
    idp: TokenEmulator,
    make_registry: MakeRegistry,
    redis_url: str,
    redis_prefix: str,
    client: redis.Redis,
) -> None:
    """F6: a writer adds scopes, ``extra``, a token type and times in the clear to a sealed record.

    The reader serves the sealed values only: the real scopes, ``extra``, type and expiry.
    """
    idp.extra_response = {"instance_url": "https://real.example"}
    cache = redis_cache(redis_url, redis_prefix, encryption_key=FLEET_KEY)
    profiles = {"a": generic(idp, cache=cache, scopes=["read"])}
    first = make_registry(profiles)
    real = first.get_token("a")
    key = token_key(redis_prefix, first)
    record = json.loads(client.get(key))
    record["token"] = {
        "access_token": "ATTACKER-token",
        "token_type": "MAC",
        "expires_at": 4e9,
        "scopes": ["admin"],
        "extra": {"instance_url": "https://attacker.example"},
    }
    record.update(lifetime=1e9, expires_at=4e9)
    client.set(key, json.dumps(record))
    second = make_registry(profiles)
    served = second.get_token("a")
    assert served.access_token == real.access_token
    assert (served.token_type, served.scopes) == (real.token_type, real.scopes)
    assert served.extra["instance_url"] == "https://real.example"
    assert served.expires_at == pytest.approx(real.expires_at, abs=1)
    entry = second.cached("a")
    assert entry is not None and entry.expires_at - time.monotonic() <= 3600
    assert idp.request_count == 1


# -- F5: plaintext Redis is an explicit opt-in, and its records are bounded ---------------


def test_redis_without_encryption_key_or_plaintext_opt_in_is_a_config_error(
    idp: TokenEmulator, make_registry: MakeRegistry, redis_url: str, redis_prefix: str
) -> None:
    """F5: a Redis cache nobody sealed and nobody opted into is refused, naming the key path."""
    with pytest.raises(ConfigError) as caught:
        registry = make_registry({"a": generic(idp, cache=redis_cache(redis_url, redis_prefix))})
        registry.get_token("a")
    assert caught.value.path == "profiles.a.cache.encryption_key"
    assert "plaintext: true" in str(caught.value) and "<dict>" in str(caught.value)
    assert idp.request_count == 0


def test_the_plaintext_opt_in_is_loud_in_tokenrack_check(
    idp: TokenEmulator, tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    """F5: ``tokenrack check`` (a real subprocess) warns about every ``plaintext: true`` profile."""
    profiles = {
        "open": generic(idp, cache=redis_cache(redis_url, redis_prefix, plaintext=True)),
        "sealed": generic(
            idp, cache=redis_cache(redis_url, redis_prefix, encryption_key=FLEET_KEY)
        ),
    }
    config = tmp_path / "tokenrack.yaml"
    config.write_text(yaml.safe_dump({"version": 1, "profiles": profiles}))
    done = run_cli(tmp_path, config, "check")
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "open" in warnings[0] and "plaintext: true" in warnings[0]
    assert "can plant tokens" in warnings[0]


def test_a_registry_default_cache_on_redis_needs_the_opt_in_too(
    idp: TokenEmulator, make_registry: MakeRegistry, redis_url: str, redis_prefix: str
) -> None:
    """F5: a ``default_cache`` given to a Registry in code gets the same refusal."""
    registry = make_registry(
        {"a": generic(idp)}, default_cache=redis_cache(redis_url, redis_prefix)
    )
    with pytest.raises(ConfigError, match="plaintext: true"):
        registry.get_token("a")
    assert idp.request_count == 0


def plant_plain(
    client: redis.Redis,
    key: str,
    cache_key_value: str,
    *,
    lifetime: float,
    extra: dict[str, Any] | None = None,
) -> None:
    now = time.time()
    token = Token("ATTACKER-planted", "Bearer", now + lifetime, (), extra or {})
    stored = StoredToken(token=token, obtained_at=now, lifetime=lifetime)
    client.set(key, encode_record(stored, key=cache_key_value, profile="a", now=now))


def test_a_plaintext_planted_record_with_a_huge_lifetime_is_capped_at_a_day(
    idp: TokenEmulator,
    make_registry: MakeRegistry,
    redis_url: str,
    redis_prefix: str,
    client: redis.Redis,
) -> None:
    """F5: with ``plaintext: true`` a writer can plant a token, but not one that lives 31 years."""
    registry = make_registry(
        {"a": generic(idp, cache=redis_cache(redis_url, redis_prefix, plaintext=True))}
    )
    key = token_key(redis_prefix, registry)
    plant_plain(client, key, registry.runtime("a").cache_key, lifetime=1e9)
    token = registry.get_token("a")
    assert token.access_token == "ATTACKER-planted"  # the documented cost of the opt-in
    assert token.expires_in() <= 86_400
    entry = registry.cached("a")
    assert entry is not None and entry.token.expires_in() <= 86_400


def test_a_plaintext_planted_record_with_a_url_in_extra_is_not_adopted(
    idp: TokenEmulator,
    make_registry: MakeRegistry,
    redis_url: str,
    redis_prefix: str,
    client: redis.Redis,
) -> None:
    """F5: a plaintext record whose ``extra`` points the caller elsewhere is a miss."""
    registry = make_registry(
        {"a": generic(idp, cache=redis_cache(redis_url, redis_prefix, plaintext=True))}
    )
    key = token_key(redis_prefix, registry)
    plant_plain(
        client,
        key,
        registry.runtime("a").cache_key,
        lifetime=600,
        extra={"instance_url": "https://attacker.example"},
    )
    token = registry.get_token("a")
    assert token.access_token in idp.issued_tokens
    assert "instance_url" not in token.extra
    assert idp.request_count == 1


# -- F19: a writer can cost a reader neither memory nor more than the lease ---------------


def test_a_giant_record_is_refused_without_being_read_whole_or_decoded(
    idp: TokenEmulator,
    make_registry: MakeRegistry,
    redis_url: str,
    redis_prefix: str,
    client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """F19: a 5 MB value under the token key (200 MB in the review) is read up to the cap."""
    decoded: list[int] = []
    real_loads = json.loads

    def recording_loads(data: Any, *args: Any, **kwargs: Any) -> Any:
        decoded.append(len(data))
        return real_loads(data, *args, **kwargs)

    monkeypatch.setattr(envelope.json, "loads", recording_loads)
    cache = redis_cache(redis_url, redis_prefix, encryption_key=FLEET_KEY)
    registry = make_registry({"a": generic(idp, cache=cache)})
    key = token_key(redis_prefix, registry)
    client.set(key, b"{" + b" " * (5 * 1024 * 1024) + b"}")
    backend = RedisCache(
        {"url": redis_url, "key_prefix": redis_prefix, "plaintext": True}, secrets={}
    )
    try:
        read = backend.get(registry.runtime("a").cache_key)
    finally:
        backend.close()
    assert read is not None and len(read) == RECORD_CAP + 1
    with caplog.at_level(logging.WARNING):
        token = registry.get_token("a")
    assert token.access_token in idp.issued_tokens
    assert all(size <= RECORD_CAP for size in decoded)
    assert "larger than" in caplog.text


def test_a_squatted_lock_delays_a_fetch_by_at_most_the_lease(
    idp: TokenEmulator,
    make_registry: MakeRegistry,
    redis_url: str,
    redis_prefix: str,
    client: redis.Redis,
) -> None:
    """F19: a writer holds the refresh lock and the takeover lock forever (owner-shaped
    values, no TTL, as no tokenrack process sets them).

    The caller fetches, exactly once, and is not held until its deadline (a lock that never
    expires, or outlives the lease, was not set by tokenrack and is treated as absent).
    """
    cache = redis_cache(redis_url, redis_prefix, encryption_key=FLEET_KEY, lock_lease=0.3)
    registry = make_registry({"a": generic(idp, cache=cache, deadline=5)})
    lock = f"{redis_prefix}lock:{registry.runtime('a').cache_key}"
    client.set(lock, "0" * 32)
    client.set(f"{lock}:takeover", "1" * 32)
    token = registry.get_token("a")
    assert token.access_token in idp.issued_tokens
    assert idp.request_count == 1


def test_a_squatted_lock_with_a_lease_like_expiry_delays_a_fetch_by_at_most_the_lease(
    idp: TokenEmulator,
    make_registry: MakeRegistry,
    redis_url: str,
    redis_prefix: str,
    client: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """F19: a writer sets the refresh lock as tokenrack would (owner value, the lease's
    expiry): the caller waits for it at most the lease, then fetches once."""
    cache = redis_cache(redis_url, redis_prefix, encryption_key=FLEET_KEY, lock_lease=0.3)
    registry = make_registry({"a": generic(idp, cache=cache)})
    client.set(f"{redis_prefix}lock:{registry.runtime('a').cache_key}", "0" * 32, px=300)
    with caplog.at_level(logging.WARNING):
        token = registry.get_token("a")
    assert token.access_token in idp.issued_tokens
    assert idp.request_count == 1


def test_a_lock_that_no_tokenrack_process_set_is_ignored(
    idp: TokenEmulator,
    make_registry: MakeRegistry,
    redis_url: str,
    redis_prefix: str,
    client: redis.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """F19: a lock holding a value that is not an owner (32 hex digits) is treated as absent.

    The caller takes it as if free (no wait for the lease), and never deletes it.
    """
    backend = RedisCache(
        {"url": redis_url, "key_prefix": redis_prefix, "plaintext": True}, secrets={}
    )
    lock_name = f"{redis_prefix}lock:k"
    try:
        client.set(lock_name, "squatted-by-a-writer")
        lock = backend.try_lock("k", lease=30)
        assert lock is not None
        lock.release()
        assert client.get(lock_name) == b"squatted-by-a-writer"
        client.set(lock_name, "ab" * 16, px=30_000)  # as an owner sets it: really held
        assert backend.try_lock("k", lease=30) is None
    finally:
        backend.close()
    cache = redis_cache(redis_url, redis_prefix, encryption_key=FLEET_KEY, lock_lease=30)
    registry = make_registry({"a": generic(idp, cache=cache)})
    client.set(f"{redis_prefix}lock:{registry.runtime('a').cache_key}", "x")
    with caplog.at_level(logging.WARNING):
        assert registry.get_token("a").access_token in idp.issued_tokens
    assert "held the refresh lock" not in caplog.text
    assert idp.request_count == 1


# -- F11, F18: TLS, and the Redis password ------------------------------------------------


def test_rediss_checks_the_certificate_and_the_host_name_explicitly() -> None:
    """F11: ``rediss://`` asks for hostname checking whatever redis-py's default."""
    backend = RedisCache({"url": "rediss://127.0.0.1:1/0", "plaintext": True}, secrets={})
    try:
        kwargs = backend._client.connection_pool.connection_kwargs
        assert kwargs["ssl_check_hostname"] is True
        assert kwargs["ssl_cert_reqs"] == "required"
    finally:
        backend.close()


def test_a_redis_url_password_is_in_no_repr_attribute_or_log(
    idp: TokenEmulator, make_registry: MakeRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    """F18: a password written in the Redis URL is in no repr, attribute or log line."""
    url = f"redis://svc:{REDIS_PASSWORD}@127.0.0.1:1/0"
    cache = {"backend": "redis", "url": url, "timeout": 0.2, "encryption_key": FLEET_KEY}
    registry = make_registry({"a": generic(idp, cache=cache)})
    config = registry.config.profile("a")
    with caplog.at_level(logging.DEBUG):
        assert registry.get_token("a").access_token in idp.issued_tokens  # Redis is down
    backend = RedisCache(dict(config.options["cache"]), secrets={})
    raw_backend = RedisCache({"url": url}, secrets={})
    try:
        texts = [
            repr(config),
            repr(config.parsed),
            repr(vars(backend)),
            repr(vars(raw_backend)),
            raw_backend.describe(),
            caplog.text,
        ]
    finally:
        backend.close()
        raw_backend.close()
    leaks = [text for text in texts if REDIS_PASSWORD in text]
    assert leaks == []
    assert "redis://svc@127.0.0.1:1/0" in repr(config)


@pytest.mark.parametrize(
    "cache",
    [
        None,
        "memory",
        "file",
        {"backend": "file"},
        {"backend": "redis", "url": f"redis://:{REDIS_PASSWORD}@127.0.0.1:1/0", "plaintext": True},
        {
            "backend": "redis",
            "url": "redis://127.0.0.1:1/0",
            "password": {"env": "CANARY_REDIS_PASSWORD"},
            "encryption_key": {"env": "CANARY_FLEET_KEY"},
        },
    ],
    ids=["absent", "memory", "file", "file-mapping", "redis-url-password", "redis-refs"],
)
def test_explain_works_for_every_cache_form_and_never_prints_the_redis_password(
    idp: TokenEmulator, tmp_path: Path, cache: Any
) -> None:
    """F18: ``tokenrack explain`` (a real subprocess) on every ``cache`` form, no password."""
    profile = generic(idp, client_secret={"env": "CANARY_SECRET"})
    if cache is not None:
        profile["cache"] = cache
    config = tmp_path / "tokenrack.yaml"
    config.write_text(yaml.safe_dump({"version": 1, "profiles": {"a": profile}}))
    done = run_cli(tmp_path, config, "explain", "a")
    assert done.returncode == 0, done.stderr
    assert REDIS_PASSWORD not in done.stdout + done.stderr
    assert SECRET not in done.stdout + done.stderr
    assert "cache backend: " in done.stdout
    if isinstance(cache, dict) and cache["backend"] == "redis":
        assert "redis://127.0.0.1:1/0" in done.stdout
