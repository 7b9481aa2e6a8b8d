"""tokenrack's vendor pack: one provider plugin per vendor, one module each.

Registered in the ``tokenrack.providers`` entry-point group by this distribution's
metadata, exactly as a third party's plugins are; nothing here registers itself on import.
Every module imports only :mod:`tokenrack.plugin`, tokenrack's stable plugin API; the
emulator personalities in :mod:`tokenrack_providers.testing` also use
:mod:`tokenrack.testing`, and are registered in the ``tokenrack.personalities`` group.
"""

from __future__ import annotations

__all__: list[str] = []
