"""The ``token_emulator`` pytest fixture, registered through the ``pytest11`` entry point."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tokenrack.testing.emulator import TokenEmulator


@pytest.fixture
def token_emulator() -> Iterator[TokenEmulator]:
    """A running :class:`TokenEmulator` accepting ``test-client``/``test-secret``.

    Point a profile's ``token_url`` at ``token_emulator.token_url``; read
    ``token_emulator.requests`` to see what was sent; queue faults with ``fail_next``.
    """
    with TokenEmulator() as emulator:
        yield emulator
