"""The emulator itself, driven with plain requests: it must be strict to be useful."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
import requests

from tokenrack.oauth.response import jwt_claims
from tokenrack.testing import EmulatorClient, Fault, TokenEmulator


@pytest.fixture
def emu() -> Iterator[TokenEmulator]:
    clients = [
        EmulatorClient("c1", "s e+c/r%t"),
        EmulatorClient("scoped", "s", scopes=frozenset({"read"}), require_audience=True),
        EmulatorClient("basic-only", "s", auth_methods=frozenset({"client_secret_basic"})),
    ]
    with TokenEmulator(clients) as running:
        yield running


def basic(client_id: str, secret: str, *, encode: bool = True) -> dict[str, str]:
    from urllib.parse import quote

    pair = (
        f"{quote(client_id, safe='')}:{quote(secret, safe='')}"
        if encode
        else f"{client_id}:{secret}"
    )
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def post(
    emu: TokenEmulator, data: dict[str, str], headers: dict[str, str] | None = None
) -> requests.Response:
    return requests.post(emu.token_url, data=data, headers=headers or {}, timeout=5)


def test_basic_with_rfc6749_encoding(emu: TokenEmulator) -> None:
    answer = post(emu, {"grant_type": "client_credentials"}, basic("c1", "s e+c/r%t"))
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["access_token"] == emu.issued_tokens[0]
    assert emu.requests[0].auth_method == "client_secret_basic"
    assert answer.headers["Cache-Control"] == "no-store"


def test_unencoded_basic_is_refused_when_the_secret_needs_encoding(emu: TokenEmulator) -> None:
    answer = post(emu, {"grant_type": "client_credentials"}, basic("c1", "s e+c/r%t", encode=False))
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"
    assert "Basic" in answer.headers["WWW-Authenticate"]


def test_body_credentials(emu: TokenEmulator) -> None:
    answer = post(
        emu, {"grant_type": "client_credentials", "client_id": "c1", "client_secret": "s e+c/r%t"}
    )
    assert answer.status_code == 200
    assert emu.requests[0].auth_method == "client_secret_post"


def test_two_methods_at_once_is_invalid_request(emu: TokenEmulator) -> None:
    answer = post(
        emu, {"grant_type": "client_credentials", "client_secret": "x"}, basic("c1", "s e+c/r%t")
    )
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_request")


def test_method_not_allowed_for_client(emu: TokenEmulator) -> None:
    answer = post(
        emu, {"grant_type": "client_credentials", "client_id": "basic-only", "client_secret": "s"}
    )
    assert (answer.status_code, answer.json()["error"]) == (401, "invalid_client")


@pytest.mark.parametrize(
    ("data", "status", "error"),
    [
        ({}, 400, "invalid_request"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        (
            {"grant_type": "client_credentials", "scope": "read write", "audience": "a"},
            400,
            "invalid_scope",
        ),
        ({"grant_type": "client_credentials", "scope": "read"}, 400, "invalid_request"),
    ],
)
def test_grant_scope_and_audience_checks(
    emu: TokenEmulator, data: dict[str, str], status: int, error: str
) -> None:
    answer = post(emu, data, basic("scoped", "s"))
    assert (answer.status_code, answer.json()["error"]) == (status, error)


def test_no_credentials(emu: TokenEmulator) -> None:
    assert post(emu, {"grant_type": "client_credentials"}).status_code == 401


def test_jwt_shaped_tokens_and_string_expiry() -> None:
    with TokenEmulator(token_format="jwt", expires_in="120", token_type="bearer") as emu:
        body = post(
            emu,
            {"grant_type": "client_credentials", "scope": "a"},
            basic("test-client", "test-secret"),
        ).json()
        assert body["expires_in"] == "120" and body["token_type"] == "bearer"
        claims = jwt_claims(body["access_token"])
        assert (
            claims is not None
            and claims["sub"] == "test-client"
            and claims["exp"] - claims["iat"] == 120
        )


def test_faults_are_consumed_in_order(emu: TokenEmulator) -> None:
    emu.fail_next(
        Fault.http(503, headers={"Retry-After": "1"}),
        Fault.raw(b"<html>", content_type="text/html"),
    )
    creds = basic("c1", "s e+c/r%t")
    first = post(emu, {"grant_type": "client_credentials"}, creds)
    assert first.status_code == 503 and first.headers["Retry-After"] == "1"
    second = post(emu, {"grant_type": "client_credentials"}, creds)
    assert second.status_code == 200 and second.text == "<html>"
    assert post(emu, {"grant_type": "client_credentials"}, creds).json()["access_token"]
    assert emu.request_count == 3 and len(emu.issued_tokens) == 1


def test_reset_fault_resets_the_connection(emu: TokenEmulator) -> None:
    emu.fail_next(Fault.reset())
    with pytest.raises(requests.ConnectionError):
        post(emu, {"grant_type": "client_credentials"}, basic("c1", "s e+c/r%t"))


def test_hang_fault_holds_until_the_client_gives_up(emu: TokenEmulator) -> None:
    emu.fail_next(Fault.hang(10))
    with pytest.raises(requests.Timeout):
        requests.post(emu.token_url, data={}, timeout=(1, 0.1))


def test_dribbled_headers_make_a_whole_answer_for_a_patient_client(emu: TokenEmulator) -> None:
    emu.fail_next(Fault.dribble_headers(b'{"slow": true}', every=0.001))
    # Each byte comes well within the read timeout, so the answer arrives whole.
    answer = requests.post(emu.token_url, data={}, timeout=(1, 5))
    assert answer.status_code == 200 and answer.json() == {"slow": True}
    assert answer.headers["Content-Type"] == "application/json"
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 14\r\n\r\n"
    assert emu.bytes_streamed == len(head)


def test_records_and_resets(emu: TokenEmulator) -> None:
    post(
        emu,
        {
            "grant_type": "client_credentials",
            "client_id": "c1",
            "client_secret": "s e+c/r%t",
            "resource": "r1",
        },
    )
    recorded = emu.requests[0]
    assert recorded.client_id == "c1" and recorded.form_values("resource") == ["r1"]
    assert recorded.headers["content-type"] == "application/x-www-form-urlencoded"
    emu.reset()
    assert emu.request_count == 0 and emu.issued_tokens == []


def test_json_bodies_are_understood(emu: TokenEmulator) -> None:
    answer = requests.post(
        emu.token_url,
        data=json.dumps(
            {"grant_type": "client_credentials", "client_id": "c1", "client_secret": "s e+c/r%t"}
        ),
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert answer.status_code == 200


def test_other_paths_are_404(emu: TokenEmulator) -> None:
    assert requests.post(emu.url + "/elsewhere", timeout=5).status_code == 404
    assert requests.get(emu.token_url, timeout=5).status_code == 404
    assert emu.request_count == 0


def test_the_pytest_fixture_is_registered(token_emulator: TokenEmulator) -> None:
    answer = post(
        token_emulator, {"grant_type": "client_credentials"}, basic("test-client", "test-secret")
    )
    assert answer.status_code == 200


def test_request_log_names_outcomes_faults_and_misses_without_secrets() -> None:
    import contextlib
    import urllib.error
    import urllib.request

    from tokenrack.testing import Fault, TokenEmulator

    lines: list[str] = []
    body = b"grant_type=client_credentials&client_id=test-client&client_secret=test-secret"
    with TokenEmulator() as emulator:
        emulator.request_log = lines.append
        emulator.fail_next(Fault.http(503))
        for url in (emulator.token_url, emulator.token_url, emulator.url + "/elsewhere?secret=x"):
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(url, data=body, timeout=10).close()
    assert lines == [
        "POST /oauth/token client=test-client -> fault http",
        "POST /oauth/token client=test-client -> 200 ok",
        "POST /elsewhere client=- -> 404 not_found",
    ]
    assert not any("test-secret" in line or "secret=x" in line for line in lines)
