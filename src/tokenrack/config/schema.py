"""The core's JSON Schema (draft 2020-12) and how it is composed with plugins' schemas.

Pure data and functions: nothing here imports jsonschema. A profile's schema is the core
profile schema plus its provider's ``options_schema`` plus the auth methods' option keys,
merged into one object schema with ``additionalProperties: false``, so a typo anywhere in a
profile is an error.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "CACHE_SECRET_OPTIONS",
    "CORE_SECRET_OPTIONS",
    "DEFAULTS_KEYS",
    "DRAFT",
    "MERGED_KEYS",
    "cache_schema",
    "core_profile_properties",
    "document_schema",
    "profile_schema",
    "secret_schema",
    "token_exchange_properties",
    "without_references",
]

DRAFT = "https://json-schema.org/draft/2020-12/schema"

CORE_SECRET_OPTIONS = frozenset({"client_secret", "dpop_key"})
"""Core profile keys that hold secrets."""

CACHE_SECRET_OPTIONS = frozenset({"encryption_key"})
"""Keys under ``cache`` that hold secrets, whatever the shared backend (each backend may
declare more, e.g. ``redis``'s ``password``)."""

CacheSchemas = Mapping[str, tuple[Mapping[str, Any], frozenset[str]]]
"""Installed cache backends: name -> (``options_schema``, ``secret_options``)."""

DEFAULTS_KEYS = (
    "timeout",
    "retries",
    "deadline",
    "cache",
    "default_ttl",
    "refusal_cooldown",
    "refresh_before",
    "must_refresh_before",
    "verify",
    "ca_bundle",
    "proxies",
    "allow_insecure_http",
)
"""Keys allowed under ``defaults``: settings that mean the same for every provider."""

MERGED_KEYS = frozenset({"timeout", "retries"})
"""Keys merged key by key across ``defaults`` and ``extends``; every other key is replaced."""

_POSITIVE = {"type": "number", "exclusiveMinimum": 0}
_NON_NEGATIVE = {"type": "number", "minimum": 0}


GRANTS = ("client_credentials", "jwt_bearer", "token_exchange")
"""The values of a profile's ``grant`` key (client credentials unless it says otherwise)."""


def secret_schema(sources: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Schema of a secret value: an inline string, or ``{source: argument}``.

    Args:
        sources: Installed secret sources and the schema of each one's argument.
    """
    reference = {
        "type": "object",
        "minProperties": 1,
        "maxProperties": 1,
        "properties": {name: dict(schema) for name, schema in sorted(sources.items())},
        "additionalProperties": False,
    }
    return {"oneOf": [{"type": "string", "minLength": 1}, reference]}


def cache_schema(
    caches: CacheSchemas | None, sources: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """Schema of the ``cache`` key: ``memory``, or ``{backend: NAME, …}`` for a backend.

    ``memory`` (the in-process cache alone) is always allowed. A shared backend takes its
    own keys plus ``encryption_key`` (a secret) and ``lock_lease``; a backend with no
    required keys may also be named by a plain string (``cache: file``).

    Args:
        caches: Installed cache backends; None knows only ``memory``.
        sources: Installed secret sources, for the secret-valued keys.
    """
    caches = dict(caches or {})
    caches.pop("memory", None)
    names = sorted(caches)
    shorthand = ["memory"] + [n for n in names if not caches[n][0].get("required")]
    branches: list[dict[str, Any]] = []
    for name in names:
        options_schema, secret_options = caches[name]
        properties: dict[str, Any] = {
            "backend": {"const": name},
            "encryption_key": secret_schema(sources),
            "lock_lease": _POSITIVE,
        }
        for key, value in dict(options_schema.get("properties", {})).items():
            properties[key] = secret_schema(sources) if key in secret_options else dict(value)
        branches.append(
            {
                "if": {"properties": {"backend": {"const": name}}, "required": ["backend"]},
                "then": {
                    "properties": properties,
                    "required": ["backend", *options_schema.get("required", [])],
                    "additionalProperties": False,
                },
            }
        )
    branches.append(
        {
            "if": {"properties": {"backend": {"const": "memory"}}, "required": ["backend"]},
            "then": {"properties": {"backend": {}}, "additionalProperties": False},
        }
    )
    mapping = {
        "type": "object",
        "required": ["backend"],
        "properties": {"backend": {"enum": ["memory", *names]}},
        "allOf": branches,
    }
    # if/then/else rather than oneOf, so a mistake inside the mapping is reported at its
    # own path (``cache.url``) instead of as "matches none of the forms".
    return {"if": {"type": "string"}, "then": {"enum": shorthand}, "else": mapping}


def core_profile_properties(
    sources: Mapping[str, Mapping[str, Any]], caches: CacheSchemas | None = None
) -> dict[str, Any]:
    """The profile keys the core itself understands, whatever the provider.

    Args:
        sources: Installed secret sources and their argument schemas.
        caches: Installed cache backends (None knows only ``memory``).
    """
    return {
        "provider": {"type": "string", "minLength": 1},
        "extends": {"type": "string", "minLength": 1},
        "client_id": {"type": "string", "minLength": 1},
        "client_secret": secret_schema(sources),
        # DPoP (RFC 9449, auth/dpop.py): proofs on token requests and API calls.
        "dpop": {"type": "boolean", "description": "bind tokens to a key with DPoP proofs"},
        "dpop_alg": {
            "enum": ["ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "EdDSA"]
        },
        "dpop_key": secret_schema(sources),
        "auth_method": {"type": "string", "minLength": 1},
        "grant": {"enum": list(GRANTS)},
        "jwt_bearer": {"type": "object"},
        "issuer": {
            "type": "string",
            "pattern": "^([Hh][Tt][Tt][Pp][Ss]?://[^/?#\\s]+|.*\\$\\{)",
            "description": "an http(s) URL identifying the authorization server",
        },
        "metadata_ttl": _POSITIVE,
        "token_endpoint_hosts": {
            "type": "array",
            "items": {"type": "string", "pattern": "^[^/:?#@\\s]+$"},
            "description": "hosts a discovered token endpoint may be on besides the issuer's",
        },
        "token_url": {
            "type": "string",
            # ${VAR} is allowed for editors only: the loader validates the interpolated
            # profile with this alternative taken out (without_references).
            "pattern": "^([Hh][Tt][Tt][Pp][Ss]?://[^/?#\\s]+|.*\\$\\{)",
            "description": "an http(s) URL, e.g. https://idp.example.com/oauth2/token",
        },
        "scopes": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "timeout": {
            "oneOf": [
                _POSITIVE,
                {
                    "type": "object",
                    "properties": {"connect": _POSITIVE, "read": _POSITIVE},
                    "additionalProperties": False,
                },
            ]
        },
        "retries": {
            "type": "object",
            "properties": {
                "attempts": {"type": "integer", "minimum": 1, "maximum": 20},
                "backoff": _NON_NEGATIVE,
                "max_backoff": _NON_NEGATIVE,
            },
            "additionalProperties": False,
        },
        "deadline": {
            **_POSITIVE,
            "description": "seconds one fetch may take in all, retries and waits included",
        },
        "cache": cache_schema(caches, sources),
        "default_ttl": _POSITIVE,
        "refusal_cooldown": _NON_NEGATIVE,
        "refresh_before": _NON_NEGATIVE,
        "must_refresh_before": _NON_NEGATIVE,
        "verify": {"type": "boolean"},
        "ca_bundle": {
            "type": "string",
            "minLength": 1,
            "description": "a CA bundle (PEM) to verify the token endpoint with; a relative "
            "path is the config file's directory's",
        },
        "proxies": {
            "oneOf": [
                {
                    "type": "object",
                    "properties": {"http": {"type": "string"}, "https": {"type": "string"}},
                    "additionalProperties": False,
                },
                {"const": "none", "description": "no proxy, whatever *_PROXY says"},
            ]
        },
        "allow_insecure_http": {"type": "boolean"},
        **token_exchange_properties(sources),
    }


def token_exchange_properties(sources: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """``grant`` and RFC 8693's keys: a token from a secret source or ``{profile: name}``."""
    token_source = {
        "type": "object",
        "minProperties": 1,
        "maxProperties": 1,
        "properties": {
            **{name: dict(schema) for name, schema in sorted(sources.items())},
            "profile": {"type": "string", "minLength": 1},
        },
        "additionalProperties": False,
        "description": "a secret source ({file: …}, {env: …}, …) or {profile: name}",
    }
    token_type = {
        "type": "string",
        "minLength": 1,
        "description": "a token type URI, or a short name: access_token, jwt, id_token, …",
    }
    return {
        "grant": {"enum": list(GRANTS)},
        "subject_token": token_source,
        "subject_token_type": token_type,
        "actor_token": token_source,
        "actor_token_type": token_type,
        "requested_token_type": token_type,
    }


def profile_schema(
    *,
    provider_schema: Mapping[str, Any],
    auth_method_properties: Iterable[Mapping[str, Any]],
    sources: Mapping[str, Mapping[str, Any]],
    secret_keys: Iterable[str] = (),
    require: bool = True,
    caches: CacheSchemas | None = None,
    interpolated: bool = True,
) -> dict[str, Any]:
    """The schema of one profile whose provider is known.

    Args:
        provider_schema: The provider's ``options_schema`` (an object schema).
        auth_method_properties: Each relevant auth method's ``options_schema`` properties.
        sources: Installed secret sources and their argument schemas.
        secret_keys: Keys that hold secrets; each gets the secret schema (an inline value
            or a ``{source: argument}`` reference), whatever its plugin declared.
        require: Keep ``required`` lists (False for the editor schema, where ``extends``
            and ``defaults`` may supply what a profile omits).
        caches: Installed cache backends.
        interpolated: Check a profile after interpolation: patterns lose the ``${VAR}``
            alternative they carry for editors (see :func:`without_references`).
    """
    rest: dict[str, Any] = copy.deepcopy(dict(provider_schema))
    properties = core_profile_properties(sources, caches)
    for extra in auth_method_properties:
        properties.update(copy.deepcopy(dict(extra)))
    properties.update(rest.pop("properties", {}))
    for key in secret_keys:
        properties[key] = secret_schema(sources)
    required = ["provider", *rest.pop("required", [])]
    rest.pop("type", None)
    rest.pop("additionalProperties", None)
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if require:
        schema["required"] = sorted(set(required), key=required.index)
    if rest:
        schema["allOf"] = [rest if require else _without_required(rest)]
    return without_references(schema) if interpolated else schema


_REFERENCE_ALTERNATIVE = re.compile(r"\|\.\*\\\$\\\{(?:\.\*)?(?=\)\$?$)")
"""The ``|.*\\$\\{…`` alternative that lets a pattern admit a ``${VAR}`` reference."""


def without_references(schema: Any) -> Any:
    """``schema`` with the ``${VAR}`` alternative taken out of every ``pattern``.

    Patterns admit ``${`` only so that editors accept a file as written; a profile is
    checked after interpolation, where a ``${`` can only be a literal (``$${``) or come
    from a variable's value, and must meet the pattern's real rule (a host, a URL).
    """
    if isinstance(schema, dict):
        return {
            key: _REFERENCE_ALTERNATIVE.sub("", value)
            if key == "pattern" and isinstance(value, str)
            else without_references(value)
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [without_references(value) for value in schema]
    return schema


def _without_required(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _without_required(v) for k, v in schema.items() if k != "required"}
    if isinstance(schema, list):
        return [_without_required(v) for v in schema]
    return schema


def defaults_schema(
    sources: Mapping[str, Mapping[str, Any]], caches: CacheSchemas | None = None
) -> dict[str, Any]:
    """The schema of the ``defaults`` section."""
    core = core_profile_properties(sources, caches)
    return {
        "type": "object",
        "properties": {key: core[key] for key in DEFAULTS_KEYS},
        "additionalProperties": False,
    }


def document_schema(
    *,
    providers: Mapping[str, Mapping[str, Any]],
    auth_method_properties: Iterable[Mapping[str, Any]],
    sources: Mapping[str, Mapping[str, Any]],
    secret_keys: Iterable[str] = (),
    caches: CacheSchemas | None = None,
) -> dict[str, Any]:
    """The schema of a whole config file, for editors (exported to config/).

    Each profile is checked against its provider's keys, selected by ``provider``. Nothing
    is required inside a profile here, since ``extends`` and ``defaults`` may supply it;
    tokenrack itself checks the assembled profile at load.

    Args:
        providers: Installed provider names and each one's ``options_schema``.
        auth_method_properties: Every installed auth method's option properties.
        sources: Installed secret sources and their argument schemas.
        secret_keys: Every key any plugin declares secret.
        caches: Installed cache backends.
    """
    auth_properties = [dict(p) for p in auth_method_properties]
    secret_keys = sorted(set(secret_keys) | CORE_SECRET_OPTIONS)
    branches = []
    for name, options_schema in sorted(providers.items()):
        schema = profile_schema(
            provider_schema=options_schema,
            auth_method_properties=auth_properties,
            sources=sources,
            secret_keys=secret_keys,
            require=False,
            caches=caches,
            interpolated=False,
        )
        branches.append(
            {
                "if": {"properties": {"provider": {"const": name}}, "required": ["provider"]},
                "then": schema,
            }
        )
    known = core_profile_properties(sources, caches)
    for options_schema in providers.values():
        known.update(copy.deepcopy(dict(options_schema.get("properties", {}))))
    for extra in auth_properties:
        known.update(copy.deepcopy(extra))
    for key in secret_keys:
        known[key] = secret_schema(sources)
    return {
        "$schema": DRAFT,
        "$id": "https://tokenrack.example/schema/config-v1.json",
        "title": "tokenrack configuration",
        "type": "object",
        "required": ["version", "profiles"],
        "properties": {
            "version": {"const": 1},
            "default_profile": {
                "type": "string",
                "minLength": 1,
                "description": "the profile used when none is named (must be one of profiles)",
            },
            "defaults": defaults_schema(sources, caches),
            "profiles": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "properties": {key: {} for key in sorted(known)},
                    "additionalProperties": False,
                    "allOf": branches,
                },
            },
        },
        "additionalProperties": False,
    }
