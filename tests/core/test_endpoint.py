"""core/endpoint: static token URLs, discovery, and metadata shared (sealed) through a cache.

No registry: an EndpointResolver is built with a fake shared store and a real emulator.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

import pytest

from tests.conftest import FakeClock
from tokenrack.cache.record import RecordCipher
from tokenrack.config.options import ProfileOptions
from tokenrack.core.endpoint import Endpoint, EndpointResolver, SealedMetadata
from tokenrack.errors import TokenResponseError
from tokenrack.http.requests_transport import RequestsTransport
from tokenrack.oauth.discovery import MetadataCache, ServerMetadata, encode_metadata
from tokenrack.secret.value import Secret
from tokenrack.testing import TokenEmulator

CIPHER = RecordCipher(Secret("fleet-key-" * 5))


class DictStore:
    """A shared metadata store in a dict, recording what it was given."""

    def __init__(self) -> None:
        self.records: dict[str, bytes] = {}
        self.ttls: dict[str, float] = {}

    def get(self, key: str) -> bytes | None:
        return self.records.get(key)

    def set(self, key: str, value: bytes, *, ttl: float) -> bool:
        self.records[key] = value
        self.ttls[key] = ttl
        return True


@pytest.fixture
def transport() -> Iterator[RequestsTransport]:
    sender = RequestsTransport()
    yield sender
    sender.close()


def resolver(
    options: ProfileOptions,
    transport: RequestsTransport,
    *,
    clock: FakeClock | None = None,
    shared: DictStore | None = None,
    metadata: MetadataCache | None = None,
    cipher: RecordCipher = CIPHER,
) -> EndpointResolver:
    clock = clock or FakeClock()
    return EndpointResolver(
        profile="p",
        source="<dict>",
        options=options,
        static_url=lambda: "https://static.example/token",
        metadata=metadata or MetadataCache(clock.monotonic),
        shared=SealedMetadata(shared, lambda: cipher) if shared is not None else None,
        transport=transport,
        clock=clock,
        rng=random.Random(0),
    )


def test_without_an_issuer_the_providers_url_is_used_and_nothing_is_fetched(
    transport: RequestsTransport,
) -> None:
    endpoint = resolver(ProfileOptions(), transport).resolve()
    assert endpoint == Endpoint("https://static.example/token")


def test_an_issuer_is_discovered_once_and_shared(
    emulator: TokenEmulator, transport: RequestsTransport
) -> None:
    emulator.metadata = {"token_endpoint_auth_methods_supported": ["client_secret_post"]}
    shared = DictStore()
    options = ProfileOptions(issuer=emulator.issuer, allow_insecure_http=True, metadata_ttl=60)
    endpoints = resolver(options, transport, shared=shared)
    first = endpoints.resolve()
    assert first.token_url == emulator.token_url
    assert first.advertised == ("client_secret_post",)
    assert endpoints.resolve() == first
    assert emulator.metadata_requests == 1  # the registry-wide cache kept it
    ((key, ttl),) = shared.ttls.items()
    assert key.startswith("metadata:") and ttl == 60


def test_another_processs_shared_metadata_is_used_without_a_request(
    emulator: TokenEmulator, transport: RequestsTransport
) -> None:
    clock = FakeClock()
    emulator.metadata = {}
    shared = DictStore()
    # What another process stored: read by a resolver with a cold in-process cache.
    resolver(
        ProfileOptions(issuer=emulator.issuer, allow_insecure_http=True),
        transport,
        clock=clock,
        shared=shared,
    ).resolve()
    assert emulator.metadata_requests == 1
    other = resolver(
        ProfileOptions(issuer=emulator.issuer, allow_insecure_http=True),
        transport,
        clock=clock,
        shared=shared,
    )
    assert other.resolve().token_url == emulator.token_url
    assert emulator.metadata_requests == 1


def test_shared_metadata_naming_another_issuer_is_refused_and_fetched(
    emulator: TokenEmulator, transport: RequestsTransport
) -> None:
    emulator.metadata = {}
    clock = FakeClock()
    shared = DictStore()
    options = ProfileOptions(issuer=emulator.issuer, allow_insecure_http=True)
    endpoints = resolver(options, transport, clock=clock, shared=shared)
    planted = ServerMetadata(
        "https://evil.example", "https://evil.example/token", ("client_secret_basic",), None, "x"
    )
    shared.records = {key: encode_metadata(planted, expires_at=4e9) for key in _keys(emulator)}
    assert endpoints.resolve().token_url == emulator.token_url
    assert emulator.metadata_requests == 1


def test_shared_metadata_under_another_key_or_issuer_or_changed_is_refused_and_fetched(
    emulator: TokenEmulator, transport: RequestsTransport
) -> None:
    emulator.metadata = {}
    options = ProfileOptions(issuer=emulator.issuer, allow_insecure_http=True)
    planted = ServerMetadata(
        emulator.issuer, "https://evil.example/token", ("client_secret_basic",), None, "x"
    )
    other = DictStore()
    SealedMetadata(other, lambda: CIPHER).store(
        "https://other.example", encode_metadata(planted, expires_at=4e9), ttl=60
    )
    ((sealed_for_other,),) = [other.records.values()]
    record = json.loads(sealed_for_other)
    # Another issuer's sealed record, relabelled; one sealed with another key; one changed.
    relabelled = dict(record, issuer=emulator.issuer)
    wrong_key = DictStore()
    SealedMetadata(wrong_key, lambda: RecordCipher(Secret("another-key-" * 4))).store(
        emulator.issuer, encode_metadata(planted, expires_at=4e9), ttl=60
    )
    right = DictStore()
    SealedMetadata(right, lambda: CIPHER).store(
        emulator.issuer, encode_metadata(planted, expires_at=4e9), ttl=60
    )
    changed = json.loads(next(iter(right.records.values())))
    changed["sealed"]["data"] = changed["sealed"]["data"][:-4] + "AAA="
    another_key = json.loads(next(iter(wrong_key.records.values())))
    for planted_record in (relabelled, another_key, changed):
        shared = DictStore()
        shared.records = {key: json.dumps(planted_record).encode() for key in _keys(emulator)}
        before = emulator.metadata_requests
        endpoints = resolver(options, transport, shared=shared)
        assert endpoints.resolve().token_url == emulator.token_url
        assert emulator.metadata_requests == before + 1


def test_metadata_naming_a_token_endpoint_on_another_host_is_refused_unless_allowed(
    emulator: TokenEmulator, transport: RequestsTransport
) -> None:
    elsewhere = emulator.token_url.replace("127.0.0.1", "localhost")
    emulator.metadata = {"token_endpoint": elsewhere}
    options = ProfileOptions(issuer=emulator.issuer, allow_insecure_http=True)
    with pytest.raises(TokenResponseError, match="another host .'localhost'.") as caught:
        resolver(options, transport).resolve()
    assert emulator.issuer in str(caught.value)
    assert "token_endpoint_hosts" in str(caught.value)
    allowed = ProfileOptions(
        issuer=emulator.issuer,
        allow_insecure_http=True,
        token_endpoint_hosts=frozenset({"localhost"}),
    )
    assert resolver(allowed, transport).resolve().token_url == elsewhere


def test_a_fixed_token_url_wins_over_the_discovered_one(
    emulator: TokenEmulator, transport: RequestsTransport
) -> None:
    emulator.metadata = {"mtls_endpoint_aliases": {"token_endpoint": emulator.token_url}}
    options = ProfileOptions(
        issuer=emulator.issuer, token_url="https://fixed.example/token", allow_insecure_http=True
    )
    endpoint = resolver(options, transport).resolve()
    assert endpoint.token_url == "https://fixed.example/token"
    assert endpoint.mtls_token_url is None


def _keys(emulator: TokenEmulator) -> list[str]:
    from tokenrack.cache.key import cache_key

    return ["metadata:" + cache_key({"issuer": emulator.issuer})]
