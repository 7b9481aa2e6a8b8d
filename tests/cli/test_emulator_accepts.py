"""``tokenrack emulator`` says what zoom and auth0 require beyond the client (issue 11)."""

from __future__ import annotations

import requests
from tokenrack_providers.testing.zoom import ZoomPersonality

from tests.cli.test_emulator_cli import emulator
from tokenrack.testing import EmulatorClient, TokenEmulator


def test_zoom_prints_the_account_id_it_accepts_and_a_request_with_one_gets_a_token() -> None:
    with emulator("--personality", "zoom", "--client-id", "cli", "--client-secret", "s3") as out:
        assert out["account_id"] == "required, any value"
        query = {"grant_type": "account_credentials", "account_id": "acct-1"}
        answer = requests.post(out["token endpoint"], params=query, auth=("cli", "s3"), timeout=5)
        assert answer.status_code == 200, answer.text


def test_zoom_names_each_clients_account_id() -> None:
    personality = ZoomPersonality({"app": "acct-9"})
    clients = [EmulatorClient("app", "s"), EmulatorClient("other", "s")]
    with TokenEmulator(clients, personality=personality) as running:
        assert personality.accepts(running) == [
            "  account_id: acct-9 (client app)",
            "  account_id: required, any value for the others",
        ]


def test_auth0_prints_the_audiences_it_accepts() -> None:
    args = ("--personality", "auth0", "--client-id", "cli", "--client-secret", "s3")
    with emulator(*args, "--audience", "https://api.b", "--audience", "https://api.a") as out:
        assert out["audience (or resource)"] == (
            "required; cli may ask for https://api.a https://api.b"
        )
    with emulator(*args) as out:
        assert out["audience (or resource)"] == "required; cli may ask for any"
