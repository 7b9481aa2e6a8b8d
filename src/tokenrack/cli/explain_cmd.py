"""``tokenrack explain``: exactly what tokenrack would send for a profile, and why."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from tokenrack.cli.common import load_registry, profile_name
from tokenrack.cli.inspect_cmd import decode_jwt
from tokenrack.errors import SecretError
from tokenrack.secret.value import Secret, SecretRef
from tokenrack.token import Token

if TYPE_CHECKING:
    from tokenrack.core.registry import Registry
    from tokenrack.core.runtime import Endpoint, ProfileRuntime
    from tokenrack.oauth.message import TokenRequest

__all__ = ["run_explain"]


def _why(runtime: ProfileRuntime, endpoint: Endpoint, methods: list[str]) -> str:
    configured = runtime.config.options.get("auth_method")
    if runtime.config.auth_method != "auto":
        if configured:
            return "set in the profile"
        grant = runtime.config.options.get("grant")
        if grant and grant != "client_credentials":
            return f"the default of grant: {grant}"
        return f"the {runtime.config.provider} provider's default"
    if len(methods) > 1:
        return (
            f"auto: tries {methods[0]}, and {methods[1]} once only if that is refused with "
            "401/invalid_client (then keeps the one that worked, here and in a shared cache)"
        )
    if endpoint.advertised is not None:
        return (
            f"auto: what the profile has material for, narrowed to what the server "
            f"advertises ({', '.join(endpoint.advertised)})"
        )
    return "auto: the method the profile's material points to"


def _assertion_note(name: str, value: Secret) -> str:
    """What a signed assertion says, without the assertion (its signature is the secret)."""
    decoded = decode_jwt(value.reveal())
    if decoded is None:
        return "***"
    header, claims = decoded
    lifetime = claims.get("exp", 0) - claims.get("iat", 0)
    if name == "client_assertion":
        shown = {k: claims.get(k) for k in ("iss", "sub", "aud")}
        intro = f"a fresh {header.get('alg')} JWT for every request"
    else:  # an assertion grant (RFC 7523 §2.1), e.g. a Google service account's
        shown = {k: claims[k] for k in ("iss", "sub", "scope", "aud") if k in claims}
        intro = f"a {header.get('alg')} JWT signed for every fetch"
    return (
        f"*** ({intro}: "
        + ", ".join(f"{k}={v}" for k, v in shown.items())
        + (", jti random" if "jti" in claims else "")
        + f", exp = iat + {lifetime}s"
        + (f", kid={header['kid']}" if "kid" in header else "")
        + "".join(f", {h} set" for h in ("x5t#S256", "x5t") if h in header)
        + ")"
    )


def _request_lines(request: TokenRequest, *, read_assertion: bool = False) -> list[str]:
    # read_assertion: the client_assertion was read from a source, not signed here: only ***.
    wire = request.encode()
    secret_headers = {name.lower() for name, value in request.headers if isinstance(value, Secret)}
    lines = [f"  {wire.method} {request.redacted_url()}"]
    for header, text in wire.headers.items():
        lines.append(f"  {header}: {'***' if header.lower() in secret_headers else text}")
    if wire.body:
        lines.append(f"  body ({request.body_format}):")
        for name, value in request.form:
            if isinstance(value, Secret):
                shown = (
                    _assertion_note(name, value)
                    if name in ("client_assertion", "assertion") and not read_assertion
                    else "***"
                )
            else:
                shown = value
            lines.append(f"    {name}={shown}")
    return lines


def _unresolved(source: str, name: str, provider: str, options: Any, error: SecretError) -> int:
    """What can be said of a profile whose secrets cannot be read (its cache key cannot)."""
    from tokenrack.cli.exit_codes import exit_code

    where = options.get("token_url") or f"discovered from issuer {options.get('issuer')}"
    print(
        "\n".join(
            (
                f"profile {name} (from {source})",
                f"provider: {provider}",
                f"token URL: {where}",
                f"secrets: NOT resolved: {error}",
                "cache key: unknown: it binds the credential's fingerprint, which needs the "
                "secrets; nothing is fetched or served until they can be read",
            )
        )
    )
    return exit_code(error)


def _cache_line(cache: Any) -> str:
    """The ``cache`` option, whatever its form, with secrets masked and URLs redacted."""
    if cache is None or isinstance(cache, str):
        return str(cache or "memory")
    from collections.abc import Mapping

    from tokenrack.cache.redis import redact_url

    shown: dict[str, Any] = {}
    for key, value in cache.items() if isinstance(cache, Mapping) else ():
        if isinstance(value, (Secret, SecretRef)):
            shown[key] = "***"
        elif key == "url" and isinstance(value, str):
            shown[key] = redact_url(value)
        else:
            shown[key] = value
    return json.dumps(shown, default=str)


def _backend_line(registry: Registry, name: str, configured: Any) -> str:
    """The cache that will really be used, where it is, and why (the CLI's own default too)."""
    from tokenrack.errors import CacheError

    shared = registry.shared_cache(name)
    why = ""
    if configured is None:
        why = (
            " (no cache key: the CLI's default; TOKENRACK_CLI_CACHE=off makes it memory)"
            if registry.default_cache != "memory"
            else " (no cache key)"
        )
    if shared is None:
        return f"cache backend: memory, this process only{why}"
    try:
        location = shared.cache.backend().describe()
    except CacheError as error:
        return (
            f"cache backend: {shared.cache.name}, unavailable ({error}); "
            f"tokens would be fetched without it{why}"
        )
    return f"cache backend: {shared.cache.name} at {location}{why}"


def run_explain(args: argparse.Namespace) -> int:
    """Print the request (redacted), the auth method and why, the cache key and windows."""
    registry = load_registry(args)
    name = profile_name(args, registry)
    try:
        runtime = registry.runtime(name)
    except SecretError as error:
        config = registry.config.profile(name)
        return _unresolved(registry.source, name, config.provider, config.options, error)
    options = runtime.config.options
    out = [f"profile {name} (from {registry.source})", f"provider: {runtime.config.provider}"]
    endpoint = runtime.endpoint()
    if runtime.discovers:
        out.append(f"token URL: {endpoint.token_url} (discovered from issuer {runtime.issuer})")
    else:
        out.append(f"token URL: {endpoint.token_url}")
    methods = runtime.plan(endpoint)
    method_name = methods[0]
    out.append(f"auth method: {' then '.join(methods)} ({_why(runtime, endpoint, methods)})")
    method = runtime.method(method_name)
    url = endpoint.token_url
    if method.requires_client_certificate:
        url = endpoint.mtls_token_url or url
        out.append(
            f"client certificate: {options.get('client_cert')!s} (mutual TLS, this profile only)"
        )
    assertion = runtime.options.secrets.get("client_assertion")
    if assertion is not None and method_name == "client_assertion":
        where = assertion.describe() if isinstance(assertion, SecretRef) else "the profile"
        out.append(f"client assertion: read from {where} at every fetch (never cached or shown)")
    request = runtime.provider_for(url).build_token_request()
    try:
        from tokenrack.auth.methods import ClientCredentials

        secrets = runtime.secrets()
        # The provider's own first request: a provider that signs its grant adds it here.
        request = runtime.first_request(url, secrets)
        client = ClientCredentials(
            profile=name,
            client_id=str(options.get("client_id", "")),
            client_secret=secrets.get("client_secret"),
            options=options,
            secrets={k: v for k, v in secrets.items() if k in method.secret_options},
            source=registry.source,
        )
        if request.authenticate:
            request = method.authenticate(request, client)
        out.append("secrets: all resolved (values never shown)")
    except SecretError as error:
        out.append(f"secrets: NOT resolved: {error}")
        out.append("  (the request below lacks client authentication)")
    if request.url != endpoint.token_url:
        # The provider's own URL (e.g. a key file's token_uri): where the request really goes.
        out.append(f"  sent to: {request.redacted_url()} (the provider's URL for this request)")
    out.append("request:")
    out.extend(_request_lines(request, read_assertion=method_name == "client_assertion"))
    if runtime.dpop is not None:
        dpop_key = runtime.dpop.key
        where = "generated in this process" if dpop_key.ephemeral else "from dpop_key"
        out.append(
            f"  DPoP: a fresh proof on every attempt ({dpop_key.algorithm}, key {where}, "
            f"thumbprint {dpop_key.thumbprint})"
        )
    out.append(f"cache key: {runtime.cache_key}")
    for key, value in runtime.cache_key_parts.items():
        out.append(f"  {key}: {value}")
    cached = registry.cached(name)
    if cached is not None:
        out.append(f"cached token: expires in {cached.token.expires_in():.0f}s")
    example = runtime.windows.entry(Token("-", "Bearer", 3600.0), obtained_at=0.0, lifetime=3600.0)
    out.append(
        "refresh windows (for a 3600 s token): refreshed in the background from "
        f"{3600 - example.refresh_at:.0f}s before expiry (this process's jitter included); "
        f"callers wait for a refresh from {3600 - example.must_refresh_at:.0f}s before"
    )
    configured = options.get("cache")
    out.append(_backend_line(registry, name, configured))
    if configured is not None:
        out.append(f"cache options: {_cache_line(configured)}")
    print("\n".join(out))
    return 0
