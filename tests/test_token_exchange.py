"""``grant: token_exchange`` (RFC 8693) against the strict emulator personality.

A subject token from a file (re-read at every fetch) or from another profile of the same
registry; the request's shape; the answer's ``issued_token_type`` and ``N_A``; what the
cache key binds; and the refusals a strict server sends.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CLIENT_ID, SECRET, TOKEN_MARK, FakeClock, canary_client, profile
from tokenrack.core.registry import Registry
from tokenrack.errors import (
    ConfigError,
    InvalidGrantError,
    InvalidRequestError,
    SecretError,
    TokenError,
    TokenRequestError,
    TokenResponseError,
)
from tokenrack.testing import EmulatorClient, TokenEmulator
from tokenrack.testing.token_exchange import TOKEN_EXCHANGE, TokenExchangePersonality

JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
ACCESS_TYPE = "urn:ietf:params:oauth:token-type:access_token"
ID_TYPE = "urn:ietf:params:oauth:token-type:id_token"


def jwt(**claims: Any) -> str:
    """An unsigned JWT-shaped token carrying ``claims`` (the emulator does not verify)."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part({'exp': int(time.time()) + 600, **claims})}."


@pytest.fixture
def sts() -> Iterator[TokenEmulator]:
    """A strict exchange server that also issues client-credentials tokens."""
    client = canary_client(grant_types=frozenset({"client_credentials", TOKEN_EXCHANGE}))
    personality = TokenExchangePersonality(
        audiences=frozenset({"https://api.example"}),
        subject_audiences=frozenset({"sts.example"}),
    )
    with TokenEmulator([client], token_prefix=f"{TOKEN_MARK}-", personality=personality) as running:
        yield running


def exchange(sts: TokenEmulator, **options: Any) -> dict[str, Any]:
    return profile(sts, **{"grant": "token_exchange", "audience": "https://api.example", **options})


def sent(sts: TokenEmulator, index: int = -1) -> dict[str, str]:
    return dict(sts.requests[index].form)


def test_a_subject_token_from_a_file_is_sent_as_a_jwt_and_reread_each_fetch(
    sts: TokenEmulator, tmp_path: Path, make_registry: Callable[..., Registry]
) -> None:
    path = tmp_path / "token"
    first = jwt(aud="sts.example", sub="workload")
    path.write_text(first + "\n")
    registry = make_registry({"x": exchange(sts, subject_token={"file": str(path)})})
    token = registry.get_token("x")
    assert token.access_token in sts.issued_tokens
    assert token.extra["issued_token_type"] == ACCESS_TYPE
    form = sent(sts)
    assert form["grant_type"] == TOKEN_EXCHANGE
    assert form["subject_token"] == first
    assert form["subject_token_type"] == JWT_TYPE
    assert form["audience"] == "https://api.example"
    assert sts.requests[-1].client_id == CLIENT_ID  # client authentication as configured
    # The file rotates underneath: the next fetch sends what it holds then.
    second = jwt(aud="sts.example", sub="workload", n=2)
    path.write_text(second)
    registry.get_token("x", force_refresh=True)
    assert sent(sts)["subject_token"] == second


def test_a_subject_token_from_another_profile_is_its_cached_token(
    sts: TokenEmulator, make_registry: Callable[..., Registry]
) -> None:
    registry = make_registry(
        {
            "upstream": profile(sts),
            "x": exchange(
                sts, subject_token={"profile": "upstream"}, requested_token_type="access_token"
            ),
        }
    )
    upstream = registry.get_token("upstream")
    token = registry.get_token("x")
    assert token.access_token != upstream.access_token
    form = sent(sts)
    assert form["subject_token"] == upstream.access_token
    assert form["subject_token_type"] == ACCESS_TYPE
    assert form["requested_token_type"] == ACCESS_TYPE
    assert sts.request_count == 2  # the upstream token was served from its cache


def test_an_actor_token_is_sent_with_its_type(
    sts: TokenEmulator, tmp_path: Path, make_registry: Callable[..., Registry]
) -> None:
    (tmp_path / "subject").write_text(jwt(aud="sts.example"))
    (tmp_path / "actor").write_text(jwt(aud="sts.example", sub="actor"))
    registry = make_registry(
        {
            "x": exchange(
                sts,
                subject_token={"file": str(tmp_path / "subject")},
                actor_token={"file": str(tmp_path / "actor")},
                actor_token_type="id_token",
            )
        }
    )
    registry.get_token("x")
    form = sent(sts)
    assert form["actor_token"] == (tmp_path / "actor").read_text()
    assert form["actor_token_type"] == ID_TYPE


def test_an_issued_token_that_is_not_an_access_token_is_accepted_as_n_a(
    sts: TokenEmulator, tmp_path: Path, make_registry: Callable[..., Registry]
) -> None:
    (tmp_path / "subject").write_text(jwt(aud="sts.example"))
    registry = make_registry(
        {
            "x": exchange(
                sts,
                subject_token={"file": str(tmp_path / "subject")},
                requested_token_type="id_token",
            )
        }
    )
    token = registry.get_token("x")
    assert token.token_type == "N_A"
    assert token.extra["issued_token_type"] == ID_TYPE


def test_an_answer_without_issued_token_type_is_refused(
    make_registry: Callable[..., Registry], tmp_path: Path
) -> None:
    # A plain RFC 6749 server answers the exchange like client credentials.
    client = canary_client(grant_types=frozenset({TOKEN_EXCHANGE}))
    (tmp_path / "subject").write_text(jwt())
    with TokenEmulator([client], token_prefix=f"{TOKEN_MARK}-") as plain:
        registry = make_registry(
            {
                "x": profile(
                    plain, grant="token_exchange", subject_token={"file": str(tmp_path / "subject")}
                )
            }
        )
        with pytest.raises(TokenResponseError, match="no issued_token_type"):
            registry.get_token("x")


def test_another_issued_type_than_requested_is_refused(
    sts: TokenEmulator, tmp_path: Path, make_registry: Callable[..., Registry]
) -> None:
    sts.extra_response = {"issued_token_type": JWT_TYPE}
    (tmp_path / "subject").write_text(jwt(aud="sts.example"))
    registry = make_registry(
        {
            "x": exchange(
                sts,
                subject_token={"file": str(tmp_path / "subject")},
                requested_token_type="access_token",
            )
        }
    )
    with pytest.raises(TokenResponseError, match="requested_token_type asked for"):
        registry.get_token("x")


# Subject tokens are made when the test runs (a JWT made at collection could expire first).
@pytest.mark.parametrize(
    ("subject", "options", "error", "message"),
    [
        ({"aud": "sts.example", "exp": -10}, {}, InvalidGrantError, "expired"),
        ({"aud": "elsewhere"}, {}, InvalidGrantError, "not issued for this server"),
        (None, {}, InvalidRequestError, "not a JWT"),
        (
            {"aud": "sts.example"},
            {"audience": "https://other.example"},
            TokenRequestError,
            "not served",
        ),
        (
            {"aud": "sts.example"},
            {"subject_token_type": "urn:x:unknown"},
            InvalidRequestError,
            "not supported",
        ),
    ],
    ids=["expired", "wrong-aud", "not-jwt", "wrong-audience", "unknown-type"],
)
def test_the_strict_server_refuses(
    sts: TokenEmulator,
    tmp_path: Path,
    make_registry: Callable[..., Registry],
    subject: dict[str, Any] | None,
    options: dict[str, Any],
    error: type[TokenRequestError],
    message: str,
) -> None:
    if subject is None:
        text = "not-a-jwt"
    else:
        claims = dict(subject)
        if "exp" in claims:
            claims["exp"] = int(time.time()) + claims["exp"]
        text = jwt(**claims)
    (tmp_path / "subject").write_text(text)
    registry = make_registry(
        {"x": exchange(sts, subject_token={"file": str(tmp_path / "subject")}, **options)}
    )
    with pytest.raises(error, match=message):
        registry.get_token("x")


def test_the_strict_server_refuses_a_missing_subject_token_type(sts: TokenEmulator) -> None:
    import requests

    answer = requests.post(
        sts.token_url,
        data={
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": jwt(aud="sts.example"),
            "client_id": CLIENT_ID,
            "client_secret": SECRET,
        },
        timeout=5,
    )
    assert answer.status_code == 400
    assert answer.json() == {
        "error": "invalid_request",
        "error_description": "subject_token_type is missing",
    }


def test_a_client_without_the_grant_may_not_exchange(
    tmp_path: Path, make_registry: Callable[..., Registry]
) -> None:
    (tmp_path / "subject").write_text(jwt())
    personality = TokenExchangePersonality()
    with TokenEmulator(
        [canary_client()], token_prefix=f"{TOKEN_MARK}-", personality=personality
    ) as server:
        registry = make_registry(
            {
                "x": profile(
                    server,
                    grant="token_exchange",
                    subject_token={"file": str(tmp_path / "subject")},
                )
            }
        )
        with pytest.raises(TokenRequestError, match="unsupported_grant_type"):
            registry.get_token("x")


def test_a_public_client_exchanges_with_auth_method_none(
    tmp_path: Path, make_registry: Callable[..., Registry]
) -> None:
    (tmp_path / "subject").write_text(jwt())
    client = EmulatorClient(
        "public", auth_methods=frozenset({"none"}), grant_types=frozenset({TOKEN_EXCHANGE})
    )
    with TokenEmulator(
        [client], token_prefix=f"{TOKEN_MARK}-", personality=TokenExchangePersonality()
    ) as server:
        registry = make_registry(
            {
                "x": {
                    "provider": "generic",
                    "token_url": server.token_url,
                    "client_id": "public",
                    "auth_method": "none",
                    "grant": "token_exchange",
                    "subject_token": {"file": str(tmp_path / "subject")},
                }
            }
        )
        registry.get_token("x")
        assert server.requests[-1].auth_method == "none"


# -- the cache key and the config --------------------------------------------------------


def test_the_cache_key_binds_the_source_not_the_rotating_value(
    sts: TokenEmulator, tmp_path: Path, make_registry: Callable[..., Registry]
) -> None:
    path = tmp_path / "token"
    path.write_text(jwt(aud="sts.example"))
    other = tmp_path / "other"
    other.write_text(path.read_text())
    registry = make_registry(
        {
            "a": exchange(sts, subject_token={"file": str(path)}),
            "b": exchange(sts, subject_token={"file": str(other)}),
            "plain": profile(sts, audience="https://api.example"),
        }
    )
    a, b = registry.runtime("a"), registry.runtime("b")
    assert a.cache_key != b.cache_key  # another source: another credential
    assert a.cache_key != registry.runtime("plain").cache_key
    assert a.cache_key_parts["subject_token"] == f'file:"{path}"'
    assert path.read_text() not in json.dumps(a.cache_key_parts)
    before = a.cache_key
    path.write_text(jwt(aud="sts.example", n=2))
    registry.get_token("a", force_refresh=True)
    assert registry.runtime("a").cache_key == before


def test_a_relative_file_source_is_keyed_by_the_file_it_reads(
    sts: TokenEmulator, tmp_path: Path
) -> None:
    """Two config files in different directories, both saying ``{file: ./token}``."""
    import yaml

    keys = []
    for name in ("one", "two"):
        directory = tmp_path / name
        directory.mkdir()
        (directory / "token").write_text(jwt(aud="sts.example"))
        config = {
            "version": 1,
            "profiles": {"x": exchange(sts, subject_token={"file": "./token"})},
        }
        (directory / "tokenrack.yaml").write_text(yaml.safe_dump(config))
        with Registry.from_file(directory / "tokenrack.yaml") as registry:
            runtime = registry.runtime("x")
            assert runtime.cache_key_parts["subject_token"] == f'file:"{directory / "token"}"'
            keys.append(runtime.cache_key)
    assert keys[0] != keys[1]


def test_a_profile_subject_carries_that_profiles_cache_key(
    sts: TokenEmulator, make_registry: Callable[..., Registry]
) -> None:
    registry = make_registry(
        {
            "up1": profile(sts),
            "up2": profile(sts, scopes=["other"]),
            "a": exchange(sts, subject_token={"profile": "up1"}),
            "b": exchange(sts, subject_token={"profile": "up2"}),
        }
    )
    parts = registry.runtime("a").cache_key_parts
    assert parts["subject_token"] == f"profile:up1:{registry.runtime('up1').cache_key}"
    assert registry.runtime("a").cache_key != registry.runtime("b").cache_key


def test_a_cycle_of_profiles_is_a_config_error(
    sts: TokenEmulator, make_registry: Callable[..., Registry]
) -> None:
    registry = make_registry(
        {
            "a": exchange(sts, subject_token={"profile": "b"}),
            "b": exchange(sts, subject_token={"profile": "a"}),
        }
    )
    with pytest.raises(ConfigError, match=r"profiles\.a\.subject_token: a cycle .*a -> b -> a"):
        registry.get_token("a")


def test_a_missing_profile_is_a_config_error(
    sts: TokenEmulator, make_registry: Callable[..., Registry]
) -> None:
    registry = make_registry({"a": exchange(sts, subject_token={"profile": "nope"})})
    with pytest.raises(ConfigError, match="no profile named 'nope'"):
        registry.get_token("a")


def test_exchange_keys_without_the_grant_are_a_config_error(
    sts: TokenEmulator, tmp_path: Path, make_registry: Callable[..., Registry]
) -> None:
    registry = make_registry({"a": profile(sts, subject_token={"file": str(tmp_path / "t")})})
    with pytest.raises(ConfigError, match="subject_token is for grant: token_exchange"):
        registry.get_token("a")


def test_the_grant_without_a_subject_token_is_a_config_error(
    sts: TokenEmulator, make_registry: Callable[..., Registry]
) -> None:
    registry = make_registry({"a": exchange(sts)})
    with pytest.raises(ConfigError, match=r"profiles\.a\.subject_token: .*needs a subject_token"):
        registry.get_token("a")


def test_an_inline_subject_token_is_refused_by_the_schema(
    sts: TokenEmulator, make_registry: Callable[..., Registry]
) -> None:
    with pytest.raises(ConfigError, match=r"subject_token"):
        make_registry({"a": exchange(sts, subject_token="eyJ.inline.token")})


def test_an_unreadable_subject_file_names_the_key(
    sts: TokenEmulator, tmp_path: Path, make_registry: Callable[..., Registry]
) -> None:
    registry = make_registry(
        {"a": exchange(sts, subject_token={"file": str(tmp_path / "missing")})}
    )
    with pytest.raises(SecretError, match=r"profiles\.a\.subject_token"):
        registry.get_token("a")


def test_an_upstream_failure_names_both_profiles(
    sts: TokenEmulator, make_registry: Callable[..., Registry]
) -> None:
    registry = make_registry(
        {
            "up": profile(sts, client_secret="wrong", refusal_cooldown=0),
            "a": exchange(sts, subject_token={"profile": "up"}),
        }
    )
    with pytest.raises(TokenError, match=r"profile 'a': subject_token: profile 'up' could not"):
        registry.get_token("a")


def test_explain_shows_the_exchange_without_reading_the_tokens(
    sts: TokenEmulator, make_registry: Callable[..., Registry]
) -> None:
    registry = make_registry(
        {"up": profile(sts), "a": exchange(sts, subject_token={"profile": "up"})}
    )
    runtime = registry.runtime("a")
    request = runtime.first_request(sts.token_url, runtime.secrets())
    assert request.form_value("grant_type") == TOKEN_EXCHANGE
    assert request.form_value("subject_token_type") == ACCESS_TYPE
    assert sts.request_count == 0


def test_the_pages_configs_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    page = Path(__file__).resolve().parents[1] / "docs" / "token-exchange.md"
    blocks = [block.split("```", 1)[0] for block in page.read_text().split("```yaml\n")[1:]]
    assert len(blocks) == 3
    for env in ("ORDERS_CLIENT_SECRET", "GATEWAY_SECRET"):
        monkeypatch.setenv(env, "x")
    for block in blocks:
        registry = Registry.from_dict(yaml.safe_load(block))
        assert registry.problems() == {}
        for name in registry.profiles():
            if "subject_token" in registry.config.profile(name).options:
                runtime = registry.runtime(name)
                assert runtime.exchange is not None


def test_a_refused_upstream_token_is_refreshed_at_the_next_fetch(
    sts: TokenEmulator, make_registry: Callable[..., Registry], clock: FakeClock
) -> None:
    registry = make_registry(
        {"up": profile(sts), "x": exchange(sts, subject_token={"profile": "up"})}, clock=clock
    )
    registry.get_token("x")
    first = registry.get_token("up")
    sts.reset()  # the server forgets (revokes) every token it issued
    with pytest.raises(InvalidGrantError, match="not issued here"):
        registry.get_token("x", force_refresh=True)
    clock.advance(2)  # past the store's first failure backoff
    registry.get_token("x", force_refresh=True)
    assert registry.get_token("up").access_token != first.access_token
    assert dict(sts.requests[-1].form)["subject_token"] == registry.get_token("up").access_token
