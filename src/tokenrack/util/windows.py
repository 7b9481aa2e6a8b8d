"""The refresh windows' margins as plain arithmetic, written once.

The token store (:class:`tokenrack.core.store.RefreshWindows`) and the CLI's warm path
(:func:`tokenrack.cli.warm.fresh_for`) both need them; this module imports nothing, so the
warm path pays no more than a file read for it.
"""

from __future__ import annotations

__all__ = ["early_margin", "mandatory_margin"]


def early_margin(lifetime: float, refresh_before: float | None) -> float:
    """Seconds before expiry the early window opens, before any jitter.

    ``refresh_before`` when set, else min(300 s, a third of the lifetime); never more
    than half the lifetime, so a short-lived token is used for a while before it is
    refreshed.
    """
    configured = refresh_before if refresh_before is not None else min(300.0, lifetime / 3)
    return min(configured, lifetime / 2)


def mandatory_margin(lifetime: float, must_refresh_before: float | None, early: float) -> float:
    """Seconds before expiry the mandatory window opens.

    ``must_refresh_before`` when set, else min(30 s, a tenth of the lifetime); never more
    than a quarter of the lifetime, nor earlier than the early window.
    """
    configured = (
        must_refresh_before if must_refresh_before is not None else min(30.0, lifetime / 10)
    )
    return min(configured, lifetime / 4, early)
