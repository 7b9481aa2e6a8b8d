"""The ``cache`` key: its forms, its validation messages, and the secrets inside it."""

from __future__ import annotations

from typing import Any

import pytest

from tokenrack.core.registry import Registry
from tokenrack.errors import ConfigError
from tokenrack.secret.value import Secret, SecretRef


def load(profile: dict[str, Any], **top: Any) -> Registry:
    return Registry.from_dict({"version": 1, "profiles": {"a": profile}, **top})


def generic(**extra: Any) -> dict[str, Any]:
    return {
        "provider": "generic",
        "token_url": "https://idp.example/t",
        "client_id": "abc",
        "client_secret": "s",
        **extra,
    }


def problems(profile: dict[str, Any], **top: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        load(profile, **top).runtime("a")  # the profile's own error, raised at its use
    return str(caught.value)


@pytest.mark.parametrize(
    "cache",
    [
        "memory",
        "file",
        {"backend": "memory"},
        {"backend": "file"},
        {"backend": "file", "path": "~/x", "lock_lease": 5, "encryption_key": {"env": "K"}},
        {"backend": "redis", "plaintext": True, "url": "redis://h:6379/0"},
        {
            "backend": "redis",
            "plaintext": True,
            "url": "rediss://h:6380/1",
            "key_prefix": "svc:",
            "timeout": 0.5,
            "username": "svc",
            "password": {"file": "/run/secrets/redis"},
            "ca_bundle": "/etc/ca.pem",
            "client_cert": "/etc/c.pem",
            "client_key": "/etc/k.pem",
            "encryption_key": "inline-key",
            "lock_lease": 10,
        },
        {"backend": "redis", "plaintext": True, "url": "unix:///run/redis.sock"},
    ],
)
def test_accepted_forms(cache: Any) -> None:
    load(generic(cache=cache))


@pytest.mark.parametrize(
    ("cache", "expected"),
    [
        ("disk", "profiles.a.cache"),
        ("redis", "profiles.a.cache"),
        ({"backend": "redis", "plaintext": True}, "profiles.a.cache"),
        ({"backend": "redis", "plaintext": True, "url": "http://h"}, "profiles.a.cache.url"),
        ({"backend": "file", "url": "redis://h"}, "profiles.a.cache.url"),
        ({"backend": "file", "lock_lease": 0}, "profiles.a.cache.lock_lease"),
        ({"backend": "memory", "path": "/x"}, "profiles.a.cache.path"),
        ({"backend": "nope"}, "profiles.a.cache.backend"),
        ({"path": "/x"}, "profiles.a.cache"),
    ],
)
def test_rejected_forms_name_the_path(cache: Any, expected: str) -> None:
    assert expected in problems(generic(cache=cache))


def test_cache_secrets_are_never_quoted_in_errors() -> None:
    message = problems(
        generic(
            cache={"backend": "redis", "plaintext": True, "url": "redis://h", "password": 987654321}
        )
    )
    assert "987654321" not in message
    assert "profiles.a.cache.password" in message
    message = problems(generic(cache={"backend": "file", "encryption_key": 987654321}))
    assert "987654321" not in message


def test_cache_secrets_become_secret_values_and_are_not_interpolated_at_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("UNSET_AT_LOAD", raising=False)
    monkeypatch.setenv("CACHE_DIR", "/tmp/x")
    registry = load(
        generic(
            cache={
                "backend": "file",
                "path": "${CACHE_DIR}/c",
                "encryption_key": "${UNSET_AT_LOAD}",
            }
        )
    )
    cache = registry.runtime("a").config.options["cache"]
    assert cache["path"] == "/tmp/x/c"
    assert cache["encryption_key"] == SecretRef("template", "${UNSET_AT_LOAD}")
    inline = load(generic(cache={"backend": "file", "encryption_key": "CANARYSECRET-k"}))
    value = inline.runtime("a").config.options["cache"]["encryption_key"]
    assert isinstance(value, Secret)
    assert "CANARYSECRET" not in repr(inline.runtime("a").config)


def test_cache_in_defaults_applies_to_every_profile() -> None:
    registry = load(
        generic(), defaults={"cache": {"backend": "redis", "plaintext": True, "url": "redis://h"}}
    )
    assert registry.runtime("a").config.options["cache"]["backend"] == "redis"
    assert "defaults.cache" in problems(
        generic(), defaults={"cache": {"backend": "redis", "plaintext": True}}
    )
