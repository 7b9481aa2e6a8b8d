"""A profile's core options, parsed once at load into typed, frozen values.

The loader validates a profile against its schema and then calls :func:`parse_options`;
the runtime reads these attributes and never the raw mapping. Every default is written
once, on a dataclass field: here, or on :class:`~tokenrack.oauth.transport.TransportOptions`
and :class:`~tokenrack.oauth.retry.RetryPolicy`, which a key left out of the profile simply
does not override.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from tokenrack.oauth.discovery import DEFAULT_METADATA_TTL
from tokenrack.oauth.retry import RetryPolicy
from tokenrack.oauth.transport import TransportOptions
from tokenrack.secret.sources import anchored_path
from tokenrack.secret.value import SecretValue

__all__ = [
    "CACHE_PATH_OPTIONS",
    "NO_PROXIES",
    "CacheOption",
    "ProfileOptions",
    "anchor_paths",
    "parse_options",
    "retry_policy",
    "transport_options",
]

NO_PROXIES = "none"
"""``proxies: none``: no proxy for this profile, whatever ``*_PROXY`` says (as ``proxies: {}``)."""

CacheOption = str | Mapping[str, Any]
"""The ``cache`` option as written: a backend name, or a mapping with ``backend``."""

CACHE_PATH_OPTIONS = frozenset({"path", "ca_bundle", "client_cert", "client_key"})
"""Keys of a ``cache`` mapping that name a file or directory: a relative one is the config
file's (the file cache's ``path``; the Redis cache's ``ca_bundle``, ``client_cert``,
``client_key``)."""


@dataclass(frozen=True, slots=True)
class ProfileOptions:
    """What the core reads from one profile, typed (provider-specific keys are not here).

    Attributes:
        transport: Timeouts, TLS verification and proxies (``timeout``, ``verify``,
            ``ca_bundle``, ``proxies``; ``proxies: none`` or ``{}``: no proxy at all).
        retry: Attempts, backoff and the per-fetch ``deadline`` (``retries``, ``deadline``).
        refresh_before: ``refresh_before``: seconds before expiry the early window opens;
            None: the windows' own rule.
        must_refresh_before: ``must_refresh_before``: seconds before expiry callers wait
            for a refresh; None: the windows' own rule.
        refusal_cooldown: ``refusal_cooldown``: seconds an ``invalid_client`` or
            ``unauthorized_client`` refusal is repeated to callers without a request.
        metadata_ttl: ``metadata_ttl``: seconds discovered server metadata is kept.
        token_url: ``token_url``, when the profile states it.
        issuer: ``issuer``, when the profile discovers its endpoint (RFC 8414).
        client_id: ``client_id`` (empty for a provider that needs none).
        allow_insecure_http: ``allow_insecure_http``: plain-http URLs are accepted.
        token_endpoint_hosts: ``token_endpoint_hosts`` (lower case): hosts a discovered
            token endpoint may be on besides the issuer's host.
        cache: ``cache`` as written (secret keys already wrapped); None: the registry's
            default cache.
        dpop: ``dpop``: token requests and API calls carry DPoP proofs (RFC 9449).
        dpop_alg: ``dpop_alg``: the proofs' algorithm; None: the key's (ES256 if generated).
        secrets: The profile's secret options (``client_secret``, ``private_key``, …), each a
            literal :class:`~tokenrack.secret.value.Secret` or a reference resolved at the
            profile's first use (when it is built).
    """

    transport: TransportOptions = field(default_factory=TransportOptions)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    refresh_before: float | None = None
    must_refresh_before: float | None = None
    refusal_cooldown: float = 30.0
    metadata_ttl: float = DEFAULT_METADATA_TTL
    token_url: str | None = None
    issuer: str | None = None
    client_id: str = ""
    allow_insecure_http: bool = False
    token_endpoint_hosts: frozenset[str] = frozenset()
    cache: CacheOption | None = None
    dpop: bool = False
    dpop_alg: str | None = None
    secrets: Mapping[str, SecretValue] = field(default_factory=dict)


# Option key -> (field, conversion). Only keys present in the profile are passed on, so the
# dataclass defaults stay the only defaults.
_TIMEOUTS = {"connect": "connect_timeout", "read": "read_timeout"}
_RETRIES: Mapping[str, tuple[str, type[float] | type[int]]] = {
    "attempts": ("attempts", int),
    "backoff": ("backoff", float),
    "max_backoff": ("max_backoff", float),
}
_SCALARS: Mapping[str, tuple[str, type[float] | type[str]]] = {
    "refresh_before": ("refresh_before", float),
    "must_refresh_before": ("must_refresh_before", float),
    "refusal_cooldown": ("refusal_cooldown", float),
    "metadata_ttl": ("metadata_ttl", float),
    "token_url": ("token_url", str),
    "issuer": ("issuer", str),
    "client_id": ("client_id", str),
    "dpop_alg": ("dpop_alg", str),
}


def parse_options(
    options: Mapping[str, Any], *, secret_keys: frozenset[str] = frozenset()
) -> ProfileOptions:
    """The typed view of a validated profile's options.

    Args:
        options: The profile after defaults, ``extends``, interpolation and validation,
            secret keys holding ``Secret`` or ``SecretRef`` values.
        secret_keys: The keys that hold secrets.
    """
    given: dict[str, Any] = {
        name: convert(options[key])
        for key, (name, convert) in _SCALARS.items()
        if options.get(key) is not None
    }
    return ProfileOptions(
        transport=transport_options(options),
        retry=retry_policy(options),
        allow_insecure_http=options.get("allow_insecure_http") is True,
        token_endpoint_hosts=frozenset(
            str(host).lower() for host in options.get("token_endpoint_hosts") or ()
        ),
        cache=options.get("cache"),
        dpop=options.get("dpop") is True,
        secrets={key: value for key, value in options.items() if key in secret_keys},
        **given,
    )


def transport_options(options: Mapping[str, Any]) -> TransportOptions:
    """Timeouts, TLS verification and proxies from a profile's options."""
    given: dict[str, Any] = {}
    timeout = options.get("timeout")
    if isinstance(timeout, (int, float)):
        given["connect_timeout"] = given["read_timeout"] = float(timeout)
    elif isinstance(timeout, Mapping):
        given.update(
            {name: float(timeout[key]) for key, name in _TIMEOUTS.items() if key in timeout}
        )
    if options.get("verify") is False:
        given["verify"] = False
    elif options.get("ca_bundle"):
        given["verify"] = os.path.expanduser(str(options["ca_bundle"]))
    proxies = options.get("proxies")
    if proxies == NO_PROXIES:
        given["proxies"] = {}
    elif isinstance(proxies, Mapping):
        # An empty mapping too: it names no proxy, so none is used (not the environment's).
        given["proxies"] = dict(proxies)
    return TransportOptions(**given)


def retry_policy(options: Mapping[str, Any]) -> RetryPolicy:
    """The retry policy from a profile's ``retries``, bounded by its ``deadline``."""
    retries = options.get("retries") or {}
    given: dict[str, Any] = {
        name: convert(retries[key]) for key, (name, convert) in _RETRIES.items() if key in retries
    }
    if options.get("deadline") is not None:
        given["deadline"] = float(options["deadline"])
    return RetryPolicy(**given)


def anchor_paths(options: ProfileOptions, directory: str | None) -> ProfileOptions:
    """``options`` with relative file paths made absolute against the config's directory.

    ``ca_bundle`` and the :data:`CACHE_PATH_OPTIONS` of a ``cache`` mapping, like the
    ``{file: …}`` secrets and key paths, name a file relative to the config file that holds
    them, wherever the process runs. ``directory`` None (a config built in code): the
    current directory, as written.
    """
    if directory is None:
        return options
    transport = options.transport
    if isinstance(transport.verify, str):
        transport = replace(transport, verify=anchored_path(transport.verify, directory))
    cache = options.cache
    if isinstance(cache, Mapping):
        cache = {
            key: anchored_path(value, directory)
            if key in CACHE_PATH_OPTIONS and isinstance(value, str)
            else value
            for key, value in cache.items()
        }
    return replace(options, transport=transport, cache=cache)
