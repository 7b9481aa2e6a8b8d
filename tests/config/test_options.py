"""config/options: a profile's core options parsed once into typed values, defaults once."""

from __future__ import annotations

import dataclasses
import os

import pytest

from tokenrack.config.options import ProfileOptions, parse_options
from tokenrack.oauth.retry import RetryPolicy
from tokenrack.oauth.transport import TransportOptions
from tokenrack.secret.value import Secret, SecretRef


def test_an_empty_profile_gets_exactly_the_dataclass_defaults() -> None:
    parsed = parse_options({})
    assert parsed == ProfileOptions()
    assert parsed.transport == TransportOptions()
    assert parsed.retry == RetryPolicy()


def test_a_number_timeout_sets_both_connect_and_read() -> None:
    transport = parse_options({"timeout": 3}).transport
    assert (transport.connect_timeout, transport.read_timeout) == (3.0, 3.0)


def test_a_partial_timeout_mapping_keeps_the_other_default() -> None:
    transport = parse_options({"timeout": {"read": 20}}).transport
    assert transport.read_timeout == 20.0
    assert transport.connect_timeout == TransportOptions().connect_timeout


def test_verify_false_wins_over_a_ca_bundle() -> None:
    assert parse_options({"verify": False, "ca_bundle": "/ca.pem"}).transport.verify is False


def test_a_ca_bundle_path_is_expanded() -> None:
    verify = parse_options({"ca_bundle": "~/ca.pem"}).transport.verify
    assert verify == os.path.expanduser("~/ca.pem")


def test_proxies_are_copied_and_empty_or_none_proxies_mean_no_proxy() -> None:
    proxies = {"https": "http://proxy:3128"}
    assert parse_options({"proxies": proxies}).transport.proxies == proxies
    assert parse_options({"proxies": {}}).transport.proxies == {}
    assert parse_options({"proxies": "none"}).transport.proxies == {}
    assert parse_options({}).transport.proxies is None  # the environment's


def test_partial_retries_keep_the_other_defaults_and_deadline_bounds_them() -> None:
    retry = parse_options({"retries": {"attempts": 2}, "deadline": 7}).retry
    assert retry == dataclasses.replace(RetryPolicy(), attempts=2, deadline=7.0)
    assert isinstance(retry.attempts, int) and isinstance(retry.deadline, float)


def test_scalars_are_typed_and_zero_is_kept() -> None:
    parsed = parse_options(
        {
            "refresh_before": 0,
            "must_refresh_before": 5,
            "refusal_cooldown": 0,
            "metadata_ttl": 60,
            "issuer": "https://idp.example",
            "token_url": "https://idp.example/token",
            "client_id": "c",
            "allow_insecure_http": True,
            "cache": "file",
        }
    )
    assert parsed.refresh_before == 0.0  # 0 is a value, not "unset"
    assert parsed.must_refresh_before == 5.0
    assert parsed.refusal_cooldown == 0.0
    assert parsed.metadata_ttl == 60.0
    assert parsed.issuer == "https://idp.example"
    assert parsed.token_url == "https://idp.example/token"
    assert parsed.client_id == "c"
    assert parsed.allow_insecure_http is True
    assert parsed.cache == "file"


def test_allow_insecure_http_must_be_literally_true() -> None:
    assert parse_options({"allow_insecure_http": "yes"}).allow_insecure_http is False


def test_only_secret_keys_are_kept_as_secrets() -> None:
    secret, ref = Secret("v"), SecretRef("env", "X")
    parsed = parse_options(
        {"client_secret": secret, "private_key": ref, "client_id": "c"},
        secret_keys=frozenset({"client_secret", "private_key", "client_key"}),
    )
    assert dict(parsed.secrets) == {"client_secret": secret, "private_key": ref}


def test_parsed_options_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        parse_options({}).client_id = "x"  # type: ignore[misc]


def test_the_loader_parses_a_profile_once() -> None:
    from tokenrack.config.assemble import load_config
    from tokenrack.core.catalog import PluginCatalog

    config = load_config(
        {
            "version": 1,
            "defaults": {"timeout": {"connect": 2}},
            "profiles": {
                "a": {
                    "provider": "generic",
                    "token_url": "https://idp.example/token",
                    "client_id": "c",
                    "client_secret": "s",
                    "retries": {"attempts": 2},
                }
            },
        },
        source="<dict>",
        plugins=PluginCatalog(),
        environ={},
    )
    parsed = config.profile("a").parsed
    assert parsed.transport.connect_timeout == 2.0
    assert parsed.transport.read_timeout == TransportOptions().read_timeout
    assert parsed.retry.attempts == 2
    assert parsed.client_id == "c"
    assert parsed.secrets["client_secret"] == Secret("s")
