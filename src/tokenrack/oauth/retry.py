"""When to retry a token request and how long to wait: pure policy, no I/O.

Retries use exponential backoff with full jitter, and honour the server's ``Retry-After``
(seconds or an HTTP date) and ``X-RateLimit-Reset`` (epoch seconds), capped by
``max_backoff``. Only failures another attempt can fix are retried: connection errors,
timeouts, 429 and 500/502/503/504. Never 400, 401 or 403.

A fetch also has a deadline: the most it may take in all, attempts and waits together
(``RetryPolicy.deadline``). :mod:`tokenrack.oauth.flow` keeps to it; nothing here measures time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from tokenrack.oauth.message import HttpResponse

__all__ = ["DEFAULT_DEADLINE", "RETRYABLE_STATUSES", "RetryPolicy", "server_wait_seconds"]

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})

DEFAULT_DEADLINE = 30.0
"""Seconds one fetch may take in all when the profile sets no ``deadline``: two full
attempts at the default timeouts (5 s to connect, 10 s to read) fit, and a caller hears
of an outage well before the usual 60 s gateway and load-balancer timeouts above it."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many attempts to make and how long to wait between them.

    Attributes:
        attempts: Total attempts, the first included (at least 1).
        backoff: Base delay in seconds; attempt *n* waits up to ``backoff * 2**(n-1)``.
        max_backoff: No single wait is longer, whatever the server asks.
        deadline: Seconds the whole fetch may take: every attempt, every wait and each
            request's own duration. No wait is begun that would end past it.
    """

    attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 8.0
    deadline: float = DEFAULT_DEADLINE

    def delay(self, attempt: int, server_wait: float | None, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        Full jitter (a uniform draw up to the exponential ceiling), raised to what the
        server asked for when it asked, and capped at ``max_backoff``.
        """
        ceiling = min(self.max_backoff, self.backoff * (2 ** (attempt - 1)))
        wait = rng.uniform(0.0, ceiling)
        if server_wait is not None:
            wait = max(wait, server_wait)
        return max(0.0, min(wait, self.max_backoff))


def server_wait_seconds(response: HttpResponse, *, now: float) -> float | None:
    """How long the server asked us to wait, from ``Retry-After`` or ``X-RateLimit-Reset``.

    Args:
        response: The answer that asked.
        now: The current epoch time, to turn an HTTP date or reset time into seconds.
    """
    retry_after = response.header("retry-after")
    if retry_after:
        value = retry_after.strip()
        if value.isdigit():
            return float(value)
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - now)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    reset = response.header("x-rate-limit-reset") or response.header("x-ratelimit-reset")
    if reset and reset.strip().isdigit():
        number = float(reset.strip())
        # Epoch seconds by the usual convention (Okta); small numbers are a delay.
        return max(0.0, number - now) if number > 1_000_000_000 else number
    return None
