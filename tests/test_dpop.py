"""DPoP (RFC 9449): proofs on token requests and API calls, against the strict personality.

The emulator's ``DPoPPersonality`` and ``DPoPResourceServer`` check proofs with
cryptography's primitives (tokenrack signs them with PyJWT): a real token endpoint and a real
API on loopback.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests

import tokenrack.httpx as tokenrack_httpx
from tests.conftest import profile
from tests.keys import jwk, private_pem
from tokenrack import BearerAuth, Registry
from tokenrack.auth.dpop import DPoPKey, htu, is_nonce_challenge, jwk_thumbprint
from tokenrack.errors import ConfigError, TokenRequestError
from tokenrack.testing import TokenEmulator
from tokenrack.testing.dpop import DPoPPersonality, DPoPResourceServer, DPoPVerifier, ProofError
from tokenrack.testing.values import Answer


def _parts(proof: str) -> tuple[dict[str, Any], dict[str, Any]]:
    def decode(part: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        return data

    header, claims, _ = proof.split(".")
    return decode(header), decode(claims)


@pytest.fixture
def personality() -> DPoPPersonality:
    return DPoPPersonality()


@pytest.fixture
def strict(emulator: TokenEmulator, personality: DPoPPersonality) -> Iterator[TokenEmulator]:
    emulator.personality = personality
    yield emulator


@pytest.fixture
def api(personality: DPoPPersonality) -> Iterator[DPoPResourceServer]:
    with DPoPResourceServer(personality) as server:
        yield server


def dpop_profile(emulator: TokenEmulator, **options: Any) -> dict[str, Any]:
    return profile(emulator, dpop=True, allow_insecure_http=True, **options)


# -- proofs ----------------------------------------------------------------------------------


def test_rfc7638_example_thumbprint() -> None:
    # RFC 7638 §3.1: the RSA key and its thumbprint, as the RFC prints them.
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tS"
        "oc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65Y"
        "GjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdk"
        "t-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    assert jwk_thumbprint({"kty": "RSA", "n": n, "e": "AQAB", "alg": "RS256"}) == (
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    )


def test_a_proof_has_the_header_and_claims_rfc9449_names() -> None:
    key = DPoPKey.generate()
    proof = key.proof("post", "https://api.example.com/v1/things?page=2#top", access_token="tok")
    header, claims = _parts(proof)
    assert header["typ"] == "dpop+jwt" and header["alg"] == "ES256"
    assert header["jwk"] == key.jwk and "d" not in header["jwk"] and "kid" not in header
    assert claims["htm"] == "POST"
    assert claims["htu"] == "https://api.example.com/v1/things"
    digest = base64.urlsafe_b64encode(__import__("hashlib").sha256(b"tok").digest())
    assert claims["ath"] == digest.rstrip(b"=").decode()
    assert isinstance(claims["iat"], int) and claims["jti"]
    assert _parts(key.proof("POST", "https://a.example/x"))[1]["jti"] != claims["jti"]
    # The independent verifier (cryptography, not PyJWT) accepts it, keyed by its thumbprint.
    verified = DPoPVerifier().verify(
        proof, method="POST", url="https://api.example.com/v1/things", access_token="tok"
    )
    assert verified == key.thumbprint


@pytest.mark.parametrize("algorithm", ["ES384", "PS256", "EdDSA"])
def test_other_algorithms_sign_proofs_a_strict_server_accepts(algorithm: str) -> None:
    key = DPoPKey.generate(algorithm)
    proof = key.proof("GET", "https://api.example.com/")
    assert _parts(proof)[0]["alg"] == algorithm
    assert DPoPVerifier().verify(proof, method="GET", url="https://api.example.com/")


def test_htu_drops_query_and_fragment() -> None:
    assert htu("https://h.example:8443/p/a?x=1#f") == "https://h.example:8443/p/a"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"method": "GET"}, "htm"),
        ({"url": "https://other.example/token"}, "htu"),
        ({"require_nonce": True}, "nonce"),
        ({"access_token": "not-this-one"}, "ath"),
    ],
)
def test_the_strict_verifier_refuses_a_proof_for_another_request(
    change: dict[str, Any], reason: str
) -> None:
    proof = DPoPKey.generate().proof("POST", "https://as.example/token")
    checked: dict[str, Any] = {"method": "POST", "url": "https://as.example/token", **change}
    with pytest.raises(ProofError) as refused:
        DPoPVerifier().verify(proof, **checked)
    assert refused.value.reason == reason


def test_the_strict_verifier_refuses_replays_stale_proofs_and_bad_signatures() -> None:
    key = DPoPKey.generate()
    verifier = DPoPVerifier()
    url = "https://as.example/token"
    proof = key.proof("POST", url)
    verifier.verify(proof, method="POST", url=url)
    with pytest.raises(ProofError, match="used before"):
        verifier.verify(proof, method="POST", url=url)
    stale = key.proof("POST", url, now=1_000_000_000)
    with pytest.raises(ProofError, match="iat"):
        verifier.verify(stale, method="POST", url=url)
    header, claims, _signature = key.proof("POST", url).split(".")
    other = DPoPKey.generate().proof("POST", url).split(".")[2]
    with pytest.raises(ProofError, match="signature"):
        verifier.verify(f"{header}.{claims}.{other}", method="POST", url=url)
    with pytest.raises(ProofError, match="required"):
        verifier.verify(None, method="POST", url=url)


def test_nonce_challenges_are_recognised_at_both_kinds_of_server() -> None:
    body = json.dumps({"error": "use_dpop_nonce"}).encode()
    assert is_nonce_challenge(400, {"DPoP-Nonce": "n"}, body)
    assert not is_nonce_challenge(400, {}, body)  # no nonce to retry with
    assert not is_nonce_challenge(400, {"DPoP-Nonce": "n"}, b'{"error": "invalid_grant"}')
    www = {"WWW-Authenticate": 'DPoP error="use_dpop_nonce"', "DPoP-Nonce": "n"}
    assert is_nonce_challenge(401, www)
    assert not is_nonce_challenge(401, {"WWW-Authenticate": 'DPoP error="invalid_token"'})


# -- token requests --------------------------------------------------------------------------


def test_a_dpop_profile_gets_a_dpop_bound_token_after_one_nonce_retry(
    strict: TokenEmulator, personality: DPoPPersonality, make_registry: Callable[..., Registry]
) -> None:
    registry = make_registry({"p": dpop_profile(strict)})
    token = registry.get_token("p")
    assert token.token_type == "DPoP" and token.authorization.startswith("DPoP ")
    dpop = registry.runtime("p").dpop
    assert dpop is not None
    assert personality.bindings[token.access_token] == dpop.key.thumbprint
    assert personality.refusals == ["nonce"]  # asked once, then answered with the nonce
    assert strict.request_count == 2
    # The nonce is remembered per server: the next fetch needs no second request.
    registry.get_token("p", force_refresh=True)
    assert personality.refusals == ["nonce"] and strict.request_count == 3


def test_a_profile_without_dpop_is_refused_by_a_dpop_server(
    strict: TokenEmulator, personality: DPoPPersonality, make_registry: Callable[..., Registry]
) -> None:
    registry = make_registry({"p": profile(strict, allow_insecure_http=True)})
    with pytest.raises(TokenRequestError) as refused:
        registry.get_token("p")
    assert refused.value.error == "invalid_dpop_proof"
    assert personality.refusals == ["missing"]


class AlwaysNewNonce(DPoPPersonality):
    """A server that asks for a new nonce every time: the client must not loop."""

    def check(self, emulator: TokenEmulator, exchange: Any, *args: Any) -> Answer | None:
        self.verifier.nonce = f"n{len(self.refusals)}"
        return super().check(emulator, exchange, *args)


def test_a_second_nonce_challenge_for_one_request_is_not_retried(
    emulator: TokenEmulator, make_registry: Callable[..., Registry]
) -> None:
    emulator.personality = AlwaysNewNonce()
    registry = make_registry({"p": dpop_profile(emulator)})
    with pytest.raises(TokenRequestError) as refused:
        registry.get_token("p")
    assert refused.value.error == "use_dpop_nonce"
    assert emulator.request_count == 2


class BusyOnce(DPoPPersonality):
    """Answers 503 to the first request that reaches it, after reading its proof."""

    def __init__(self) -> None:
        super().__init__(require_nonce=False)
        self.proofs: list[str] = []

    def check(self, emulator: TokenEmulator, exchange: Any, *args: Any) -> Answer | None:
        self.proofs.append(exchange.headers["dpop"])
        if len(self.proofs) == 1:
            return Answer(503, {"error": "temporarily_unavailable"})
        return super().check(emulator, exchange, *args)


def test_every_retried_attempt_carries_a_fresh_proof(
    emulator: TokenEmulator, make_registry: Callable[..., Registry]
) -> None:
    busy = emulator.personality = BusyOnce()
    registry = make_registry({"p": dpop_profile(emulator)})
    assert registry.get_token("p").token_type == "DPoP"
    assert len(busy.proofs) == 2
    assert len({_parts(proof)[1]["jti"] for proof in busy.proofs}) == 2


def test_a_bearer_token_from_a_server_without_dpop_is_used_as_bearer_with_a_warning(
    emulator: TokenEmulator,
    make_registry: Callable[..., Registry],
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = make_registry({"p": dpop_profile(emulator)})
    with caplog.at_level(logging.WARNING, logger="tokenrack"):
        token = registry.get_token("p")
    assert token.token_type == "Bearer"
    assert "issued a Bearer token, not a DPoP-bound one" in caplog.text


# -- keys and cache keys ---------------------------------------------------------------------


def test_the_cache_key_carries_the_key_thumbprint(
    emulator: TokenEmulator, make_registry: Callable[..., Registry], tmp_path: Path
) -> None:
    key_file = tmp_path / "dpop.pem"
    key_file.write_text(private_pem("p256"))
    registry = make_registry(
        {
            "plain": profile(emulator, allow_insecure_http=True),
            "own": dpop_profile(emulator),
            "shared": dpop_profile(emulator, dpop_key={"file": str(key_file)}),
        }
    )
    runtimes = {name: registry.runtime(name) for name in ("plain", "own", "shared")}
    assert "dpop_jkt" not in runtimes["plain"].cache_key_parts
    own, shared = runtimes["own"].dpop, runtimes["shared"].dpop
    assert own is not None and shared is not None
    assert own.key.ephemeral and not shared.key.ephemeral
    assert runtimes["own"].cache_key_parts["dpop_jkt"] == own.key.thumbprint
    assert shared.key.thumbprint == jwk_thumbprint(json.loads(jwk("p256", private=False)))
    assert len({r.cache_key for r in runtimes.values()}) == 3


def test_registries_sharing_a_dpop_key_share_tokens_through_a_shared_cache(
    strict: TokenEmulator, tmp_path: Path, make_registry: Callable[..., Registry]
) -> None:
    key_file = tmp_path / "dpop.json"
    key_file.write_text(jwk("p256", private=True))
    cache = {"backend": "file", "path": str(tmp_path / "cache")}
    options = dpop_profile(strict, dpop_key={"file": str(key_file)}, cache=cache)
    first = make_registry({"p": options}).get_token("p")
    second = make_registry({"p": options}).get_token("p")
    assert first.access_token == second.access_token
    assert len(strict.issued_tokens) == 1


def test_an_unusable_dpop_key_is_a_config_error_naming_the_option(
    emulator: TokenEmulator, make_registry: Callable[..., Registry], tmp_path: Path
) -> None:
    key_file = tmp_path / "dpop.pem"
    key_file.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    registry = make_registry(
        {
            "bad": dpop_profile(emulator, dpop_key={"file": str(key_file)}),
            "good": profile(emulator, allow_insecure_http=True),
        }
    )
    with pytest.raises(ConfigError) as refused:
        registry.get_token("bad")
    assert "profiles.bad.dpop_key" in str(refused.value)
    assert "MIIB" not in str(refused.value)
    assert registry.get_token("good").token_type == "Bearer"  # the other profile is unaffected


def test_dpop_alg_that_does_not_fit_the_key_is_refused(
    emulator: TokenEmulator, make_registry: Callable[..., Registry], tmp_path: Path
) -> None:
    key_file = tmp_path / "dpop.pem"
    key_file.write_text(private_pem("p256"))
    registry = make_registry(
        {"p": dpop_profile(emulator, dpop_key={"file": str(key_file)}, dpop_alg="PS256")}
    )
    with pytest.raises(ConfigError, match=r"profiles\.p\.dpop_key"):
        registry.get_token("p")


def test_without_the_jwt_extra_only_the_dpop_profile_is_unusable(
    emulator: TokenEmulator, make_registry: Callable[..., Registry], monkeypatch: Any
) -> None:
    import tokenrack.core.dpop_setup as setup

    monkeypatch.setattr(setup, "jwt_available", lambda: False)
    registry = make_registry(
        {"d": dpop_profile(emulator), "plain": profile(emulator, allow_insecure_http=True)}
    )
    with pytest.raises(ConfigError, match=r"tokenrack\[jwt\]"):
        registry.get_token("d")
    assert registry.get_token("plain")


def test_dpop_proof_for_a_profile_without_dpop_says_how_to_turn_it_on(
    emulator: TokenEmulator, make_registry: Callable[..., Registry]
) -> None:
    registry = make_registry({"p": profile(emulator, allow_insecure_http=True)})
    with pytest.raises(ConfigError, match="set dpop: true"):
        registry.dpop_proof("p", "GET", "https://api.example.com/")


# -- API calls -------------------------------------------------------------------------------


def test_requests_bearer_auth_sends_dpop_proofs_and_answers_the_nonce_challenge(
    strict: TokenEmulator,
    api: DPoPResourceServer,
    make_registry: Callable[..., Registry],
) -> None:
    registry = make_registry({"p": dpop_profile(strict)})
    session = requests.Session()
    session.auth = BearerAuth("p", registry=registry)
    for path in ("/a?page=1", "/b", "/c"):
        answer = session.post(api.url + path, data=b"body")
        assert answer.status_code == 200, api.refusals
    # One nonce challenge, answered with the same token; every later proof carries it.
    assert api.statuses == [401, 200, 200, 200]
    assert api.refusals == ["nonce"]
    assert len(strict.issued_tokens) == 1  # the challenge invalidated nothing


def test_httpx_bearer_auth_sends_dpop_proofs_sync_and_async(
    strict: TokenEmulator,
    api: DPoPResourceServer,
    make_registry: Callable[..., Registry],
) -> None:
    registry = make_registry({"p": dpop_profile(strict)})
    with httpx.Client(auth=tokenrack_httpx.BearerAuth("p", registry=registry)) as client:
        assert client.get(api.url + "/sync?q=1").json() == {"ok": True, "path": "/sync"}
        assert client.put(api.url + "/sync", content=b"x").status_code == 200

    async def call() -> int:
        auth = tokenrack_httpx.BearerAuth("p", registry=registry)
        async with httpx.AsyncClient(auth=auth) as client:
            return (await client.delete(api.url + "/async")).status_code

    assert asyncio.run(call()) == 200
    assert api.refusals == ["nonce"] and api.statuses.count(200) == 3
    assert len(strict.issued_tokens) == 1


def test_a_token_bound_to_another_key_is_refused_by_the_api(
    strict: TokenEmulator,
    api: DPoPResourceServer,
    make_registry: Callable[..., Registry],
) -> None:
    registry = make_registry({"p": dpop_profile(strict)})
    token = registry.get_token("p")
    thief = DPoPKey.generate()
    headers = {"Authorization": token.authorization}
    for _ in range(2):  # the second time with the nonce the first refusal gave
        nonce = api.verifier.nonce
        proof = thief.proof("GET", api.url + "/x", access_token=token.access_token, nonce=nonce)
        answer = requests.get(api.url + "/x", headers={**headers, "DPoP": proof}, timeout=5)
    assert answer.status_code == 401 and api.refusals[-1] == "binding"


def test_registry_dpop_proof_serves_other_http_clients(
    strict: TokenEmulator,
    api: DPoPResourceServer,
    make_registry: Callable[..., Registry],
) -> None:
    registry = make_registry({"p": dpop_profile(strict)})
    token = registry.get_token("p")
    url = api.url + "/plain"
    proof = registry.dpop_proof("p", "GET", url, access_token=token.access_token)
    first = requests.get(url, headers={"Authorization": token.authorization, "DPoP": proof})
    assert first.status_code == 401 and first.headers["DPoP-Nonce"]
    proof = registry.dpop_proof(
        "p", "GET", url, access_token=token.access_token, nonce=first.headers["DPoP-Nonce"]
    )
    second = requests.get(url, headers={"Authorization": token.authorization, "DPoP": proof})
    assert second.status_code == 200
    # The nonce is remembered for that server.
    proof = registry.dpop_proof("p", "GET", url, access_token=token.access_token)
    third = requests.get(url, headers={"Authorization": token.authorization, "DPoP": proof})
    assert third.status_code == 200
