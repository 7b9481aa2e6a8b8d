"""``auth_method: auto`` against two independent servers, with clients registered for one method.

Authlib's server holds each client to its registered ``token_endpoint_auth_method``: the
post-registered client's first (Basic) attempt is refused with 401 ``invalid_client``, then
post works, is pinned, and is shared through the file cache, so the next process makes no
Basic attempt. node oidc-provider treats ``client_secret_basic`` and ``client_secret_post``
as one family (its client_auth.js accepts either for a client registered for one), so there
the Basic attempt is accepted for both clients; its discovery document advertises
``client_secret_jwt`` too, which ``auto`` must not pick for a secret.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import without_coverage
from tests.interop.conftest import OidcProviderFactory, secret_client
from tokenrack.core.registry import Registry

MakeRegistry = Callable[..., Registry]
TOKENRACK = str(Path(sys.executable).with_name("tokenrack"))

BASIC_SECRET = "interop-basic-secret-0123456789abcdef"
POST_SECRET = "interop-post-secret-0123456789abcdef"
CLIENTS = [
    ("basic-client", BASIC_SECRET, "client_secret_basic"),
    ("post-client", POST_SECRET, "client_secret_post"),
]


def secret_profile(client_id: str, secret: str, **where: Any) -> dict[str, Any]:
    return {"provider": "generic", "client_id": client_id, "client_secret": secret, **where}


# -- Authlib ---------------------------------------------------------------------------------


def test_authlib_basic_registered_client_gets_a_token_with_basic(
    authlib_server: Callable[..., Any], make_registry: MakeRegistry
) -> None:
    server = authlib_server(CLIENTS)
    registry = make_registry(
        {"a": secret_profile("basic-client", BASIC_SECRET, token_url=server.token_url)}
    )
    assert registry.get_token("a").access_token
    assert [(r.basic, r.status) for r in server.requests] == [(True, 200)]


def test_authlib_post_registered_client_one_refused_basic_then_post_then_shared(
    authlib_server: Callable[..., Any], make_registry: MakeRegistry, tmp_path: Path
) -> None:
    server = authlib_server(CLIENTS)
    cache = {"backend": "file", "path": str(tmp_path / "cache")}
    where = {"token_url": server.token_url, "cache": cache}
    first = make_registry({"a": secret_profile("post-client", POST_SECRET, **where)})
    assert first.get_token("a").access_token
    assert [(r.basic, r.status) for r in server.requests] == [(True, 401), (False, 200)]
    # Another registry on the file cache (another process): the pin is read, no Basic try.
    second = make_registry({"a": secret_profile("post-client", POST_SECRET, **where)})
    second.get_token("a", force_refresh=True)
    assert [(r.basic, r.status) for r in server.requests[2:]] == [(False, 200)]
    assert server.basic_attempts() == 1


def test_authlib_the_next_cli_process_makes_no_basic_attempt(
    authlib_server: Callable[..., Any], tmp_path: Path
) -> None:
    server = authlib_server(CLIENTS)
    # Two profiles of the same client (different scopes): two tokens, one registration.
    profiles = {
        name: {
            "provider": "generic",
            "token_url": server.token_url,
            "client_id": "post-client",
            "client_secret": {"env": "POST_SECRET"},
            "scopes": [name],
        }
        for name in ("orders", "billing")
    }
    config = tmp_path / "tokenrack.yaml"
    config.write_text(yaml.safe_dump({"version": 1, "profiles": profiles}))
    environment = {
        **os.environ,
        "POST_SECRET": POST_SECRET,
        "XDG_CACHE_HOME": str(tmp_path / "xdg-cache"),
    }
    for name in ("orders", "billing"):
        done = subprocess.run(
            [TOKENRACK, "--config", str(config), "token", name],
            capture_output=True,
            text=True,
            env=without_coverage(environment),
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert POST_SECRET not in done.stderr
    # The first process: Basic refused, then post. The second: post straight away.
    assert [(r.basic, r.status) for r in server.requests] == [
        (True, 401),
        (False, 200),
        (False, 200),
    ]


# -- node oidc-provider ----------------------------------------------------------------------


def oidc_clients() -> list[dict[str, Any]]:
    return [secret_client(*client) for client in CLIENTS]


def test_oidc_provider_with_discovery_uses_basic_never_client_secret_jwt(
    oidc_provider: OidcProviderFactory, make_registry: MakeRegistry
) -> None:
    server = oidc_provider(oidc_clients())
    registry = make_registry(
        {
            "basic": secret_profile("basic-client", BASIC_SECRET, issuer=server.issuer),
            "post": secret_profile("post-client", POST_SECRET, issuer=server.issuer),
        }
    )
    with urllib.request.urlopen(server.issuer + "/.well-known/openid-configuration") as answer:
        advertised = json.load(answer)["token_endpoint_auth_methods_supported"]
    assert {"client_secret_jwt", "client_secret_basic", "client_secret_post"} <= set(advertised)
    assert registry.get_token("basic").access_token
    assert registry.get_token("post").access_token
    # Basic for both, never client_secret_jwt (oidc-provider accepts Basic for the
    # post-registered client too).
    assert [(r["basic"], r["status"]) for r in server.requests()] == [(True, 200), (True, 200)]


def test_oidc_provider_without_metadata(
    oidc_provider: OidcProviderFactory, make_registry: MakeRegistry
) -> None:
    server = oidc_provider(oidc_clients())
    registry = make_registry(
        {
            "basic": secret_profile("basic-client", BASIC_SECRET, token_url=server.token_url),
            "post": secret_profile("post-client", POST_SECRET, token_url=server.token_url),
        }
    )
    assert registry.get_token("basic").access_token
    assert registry.get_token("post").access_token
    assert [(r["basic"], r["status"]) for r in server.requests()] == [(True, 200), (True, 200)]


def test_oidc_provider_advertising_only_post_gets_no_basic_attempt(
    oidc_provider: OidcProviderFactory, make_registry: MakeRegistry
) -> None:
    server = oidc_provider(
        [secret_client("post-client", POST_SECRET, "client_secret_post")],
        {"clientAuthMethods": ["client_secret_post"]},
    )
    registry = make_registry(
        {"post": secret_profile("post-client", POST_SECRET, issuer=server.issuer)}
    )
    assert registry.get_token("post").access_token
    assert [(r["basic"], r["status"]) for r in server.requests()] == [(False, 200)]
