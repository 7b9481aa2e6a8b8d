"""Tools for testing code that uses tokenrack, and tokenrack plugins.

- :class:`TokenEmulator`: a real token endpoint on loopback, with fault injection.
- The ``token_emulator`` pytest fixture (registered as a pytest plugin on install).
- :class:`ProviderContractTests`: the contract every provider plugin must pass.
- :class:`Personality`: how the emulator speaks; the vendor pack's personalities live in
  ``tokenrack_providers.testing`` and are found by name through
  :mod:`tokenrack.testing.personalities`.
- :class:`TokenCacheContractTests`: the contract every cache backend must pass.

Names are imported on first use: the emulator (and ``tokenrack emulator``) works without
pytest, which only the contract kits need.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from tokenrack.testing.cache_contract import TokenCacheContractTests
    from tokenrack.testing.contract import ProviderContractTests
    from tokenrack.testing.emulator import EmulatorClient, Fault, RecordedRequest, TokenEmulator
    from tokenrack.testing.personality import Exchange, Personality

__all__ = [
    "EmulatorClient",
    "Exchange",
    "Fault",
    "Personality",
    "ProviderContractTests",
    "RecordedRequest",
    "TokenCacheContractTests",
    "TokenEmulator",
]

_NEEDS_PYTEST = frozenset({"ProviderContractTests", "TokenCacheContractTests"})

_HOMES = {
    "EmulatorClient": "tokenrack.testing.values",
    "Exchange": "tokenrack.testing.personality",
    "Fault": "tokenrack.testing.faults",
    "Personality": "tokenrack.testing.personality",
    "ProviderContractTests": "tokenrack.testing.contract",
    "RecordedRequest": "tokenrack.testing.values",
    "TokenCacheContractTests": "tokenrack.testing.cache_contract",
    "TokenEmulator": "tokenrack.testing.emulator",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'tokenrack.testing' has no attribute {name!r}")
    import importlib

    try:
        module = importlib.import_module(home)
    except ModuleNotFoundError as missing:
        if missing.name != "pytest" or name not in _NEEDS_PYTEST:
            raise
        raise ModuleNotFoundError(
            f"tokenrack.testing.{name} is a pytest contract kit and needs pytest "
            "(pip install pytest); the emulator (TokenEmulator, tokenrack emulator) does not",
            name="pytest",
        ) from None
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
