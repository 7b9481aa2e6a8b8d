"""Optional extras: which modules each needs, and whether they are installed (no import)."""

from __future__ import annotations

import importlib.util

__all__ = ["EXTRA_MODULES", "extra_installed"]

EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "tokenrack[jwt]": ("jwt", "cryptography"),
    "tokenrack[redis]": ("redis",),
    "tokenrack[encryption]": ("cryptography",),
}


def extra_installed(extra: str) -> bool:
    """True when every module ``extra`` brings can be imported.

    An unknown extra counts as installed: its plugin will say what is missing when it loads.
    """
    for module in EXTRA_MODULES.get(extra, ()):
        try:
            if importlib.util.find_spec(module) is None:
                return False
        except (ImportError, ValueError):
            return False
    return True
