"""The library side of issue 11's diagnostics (ux F25).

``tokenrack.default_registry()`` is public, so the stats of the registry behind
``tokenrack.get_token`` can be read; ``BearerAuth("typo")`` is refused at construction
when the registry is at hand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

import tokenrack
import tokenrack.httpx
from tests.conftest import profile
from tokenrack.testing import TokenEmulator


@pytest.fixture(autouse=True)
def fresh_default() -> Iterator[None]:
    tokenrack.configure(None)
    yield
    tokenrack.configure(None)


def test_the_default_registry_and_its_stats_are_public(
    tmp_path: Path, emulator: TokenEmulator
) -> None:
    config = tmp_path / "tokenrack.yaml"
    config.write_text(yaml.safe_dump({"version": 1, "profiles": {"billing": profile(emulator)}}))
    tokenrack.configure(config)
    assert "default_registry" in tokenrack.__all__
    tokenrack.get_token("billing")
    tokenrack.get_token("billing")
    stats = tokenrack.default_registry().stats()
    assert stats["billing"]["fetches"] == {"cold": 1}
    assert stats["billing"]["hits"] == 1


@pytest.mark.parametrize(
    "auth", [tokenrack.BearerAuth, tokenrack.httpx.BearerAuth], ids=["requests", "httpx"]
)
def test_bearer_auth_refuses_a_misspelled_profile_at_construction(
    auth: Callable[..., object],
    emulator: TokenEmulator,
    make_registry: Callable[..., tokenrack.Registry],
    tmp_path: Path,
) -> None:
    registry = make_registry({"billing": profile(emulator)})
    with pytest.raises(tokenrack.ProfileNotFoundError, match="did you mean 'billing'"):
        auth("biling", registry=registry)
    auth("billing", registry=registry)  # the right name is accepted
    # The default registry: checked once it is loaded; before that nothing is read.
    auth("biling")
    config = tmp_path / "tokenrack.yaml"
    config.write_text(yaml.safe_dump({"version": 1, "profiles": {"billing": profile(emulator)}}))
    tokenrack.configure(config)
    with pytest.raises(tokenrack.ProfileNotFoundError, match="did you mean 'billing'"):
        auth("biling")
    assert emulator.request_count == 0
