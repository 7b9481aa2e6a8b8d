"""Tools for testing code that uses tokenrack, and tokenrack plugins.

- :class:`TokenEmulator`: a real token endpoint on loopback, with fault injection.
- The ``token_emulator`` pytest fixture (registered as a pytest plugin on install).
- :class:`ProviderContractTests`: the contract every provider plugin must pass.
- :class:`Personality`: how the emulator speaks; vendors' in :mod:`.personalities`.
- :class:`TokenCacheContractTests`: the contract every cache backend must pass.
"""

from __future__ import annotations

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
