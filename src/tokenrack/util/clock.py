"""The clock the core reads, injectable so tests can move time without sleeping."""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "SystemClock"]


class Clock(Protocol):
    """Where the core gets the time and waits."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (cache windows are measured on it)."""
        ...

    def time(self) -> float:
        """Epoch seconds on this host's wall clock (what a Token's ``expires_at`` uses)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (between retries)."""
        ...


class SystemClock:
    """The real clock."""

    # The builtins themselves, not wrappers: monotonic() is read on every cache hit.
    monotonic = staticmethod(time.monotonic)
    time = staticmethod(time.time)

    def sleep(self, seconds: float) -> None:
        """Call :func:`time.sleep`."""
        if seconds > 0:
            time.sleep(seconds)
