"""The pack's personalities: registered as entry points, each serving the URL it names."""

from __future__ import annotations

import importlib.metadata

import requests
from tokenrack_providers.testing.personalities import PERSONALITIES

from tokenrack.testing import TokenEmulator, personalities


def test_every_personality_is_an_entry_point_of_the_pack() -> None:
    points = importlib.metadata.entry_points(group=personalities.GROUP)
    assert {p.name for p in points} == set(PERSONALITIES)
    assert all(p.dist is not None and p.dist.name == "tokenrack-providers" for p in points)
    for name, make in PERSONALITIES.items():
        assert type(personalities.load(name)) is make


def test_the_core_offers_the_packs_personalities_by_name() -> None:
    assert personalities.names() == ("rfc6749", *sorted(PERSONALITIES))


def test_every_vendor_personality_serves_the_token_url_it_names() -> None:
    for vendor, make in PERSONALITIES.items():
        personality = make()
        with TokenEmulator(personality=personality) as emulator:
            path = emulator.token_url.removeprefix(emulator.url)
            assert path == personality.token_path(emulator), vendor
            assert personality.serves(emulator, path), vendor
            answer = requests.post(emulator.token_url, data={}, timeout=5)
            assert answer.status_code != 404, vendor  # refused for its content, not its path
