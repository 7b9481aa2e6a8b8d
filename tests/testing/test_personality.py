"""The emulator's Personality extension point, with the default and a small custom one."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import requests

from tokenrack.testing import EmulatorClient, Exchange, Personality, TokenEmulator
from tokenrack.testing.personality import Answer

PACK_TESTING = (
    Path(__file__).resolve().parents[2] / "providers" / "src" / "tokenrack_providers" / "testing"
)


class Strict(Personality):
    name: ClassVar[str] = "strict"
    auth_methods: ClassVar[frozenset[str]] = frozenset({"client_secret_basic"})

    def serves(self, emulator: TokenEmulator, path: str) -> bool:
        return path == "/strict/token"

    def check(
        self,
        emulator: TokenEmulator,
        exchange: Exchange,
        client: EmulatorClient,
        method: str | None,
        params: Sequence[tuple[str, str]],
    ) -> Answer | None:
        if not exchange.param("tenant", params):
            return self.refusal(400, "invalid_request", "tenant is required")
        return None

    def success(
        self, emulator: TokenEmulator, exchange: Exchange, body: dict[str, Any]
    ) -> dict[str, Any]:
        return {**body, "vendor": "strict"}

    def error(self, emulator: TokenEmulator, exchange: Exchange, answer: Answer) -> Answer:
        return Answer(answer.status, {"problem": answer.body["error"]}, answer.headers)


def test_default_personality_is_rfc6749() -> None:
    with TokenEmulator() as emulator:
        assert repr(emulator.personality) == "Personality()"
        answer = requests.post(
            emulator.token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": "test-client",
                "client_secret": "test-secret",
            },
            timeout=5,
        )
        assert answer.status_code == 200 and answer.json()["token_type"] == "Bearer"


def test_each_step_of_a_custom_personality() -> None:
    with TokenEmulator(personality=Strict()) as emulator:
        url = f"{emulator.url}/strict/token"
        basic = ("test-client", "test-secret")
        assert requests.post(emulator.token_url, data={}, timeout=5).status_code == 404
        body = {
            "grant_type": "client_credentials",
            "client_id": "test-client",
            "client_secret": "test-secret",
        }
        refused = requests.post(url, data=body, timeout=5)
        assert (refused.status_code, refused.json()) == (401, {"problem": "invalid_client"})
        missing = requests.post(
            url, data={"grant_type": "client_credentials"}, auth=basic, timeout=5
        )
        assert (missing.status_code, missing.json()) == (400, {"problem": "invalid_request"})
        ok = requests.post(
            url, data={"grant_type": "client_credentials", "tenant": "t"}, auth=basic, timeout=5
        )
        assert ok.status_code == 200 and ok.json()["vendor"] == "strict"
        assert emulator.requests[-1].auth_method == "client_secret_basic"
        assert emulator.requests[-1].path == "/strict/token"


def test_default_prepare_needs_nothing(tmp_path: Path) -> None:
    with TokenEmulator() as emulator:
        assert Personality().prepare(emulator, tmp_path) is None
    assert list(tmp_path.iterdir()) == []


def private_emulator_uses(source: str) -> list[str]:
    """``emulator._x`` attribute reads in ``source``: what a personality must not do."""
    return [
        node.attr
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "emulator"
        and node.attr.startswith("_")
    ]


def test_personalities_use_only_the_emulators_public_hooks() -> None:
    import tokenrack.testing.personality as core

    modules = [Path(core.__file__), *PACK_TESTING.glob("*.py")]
    assert len(modules) > 10  # the core's and every vendor's
    for module in modules:
        assert private_emulator_uses(module.read_text()) == [], module.name
    assert private_emulator_uses("emulator._answer(x)") == ["_answer"]  # the probe works


def test_the_personality_module_reexports_no_private_names() -> None:
    import tokenrack.testing.personality as core

    assert all(not name.startswith("_") for name in core.__all__)
    assert not hasattr(core, "_Answer") and not hasattr(core, "_error")
    assert core.Answer is Answer and Answer.__module__ == "tokenrack.testing.values"
