"""When to retry a token request and how long to wait: pure policy, no I/O.

Retries use exponential backoff with full jitter, and honour the server's ``Retry-After``
(seconds or an HTTP date) and ``X-RateLimit-Reset`` (epoch seconds), capped by
``max_backoff``. Only failures another attempt can fix are retried: connection errors,
timeouts, 408, 429 and 500/502/503/504, and a 400 whose body's ``error`` says the server
failed (``temporarily_unavailable``, ``server_error``: see
:func:`tokenrack.oauth.response.transient_error`). Never another 400, nor 401 or 403.

A server that asks for a wait longer than ``max_backoff`` is not asked again in this fetch;
:mod:`tokenrack.oauth.throttle` remembers the wait for its endpoint.

A fetch also has a deadline: the most it may take in all, attempts and waits together
(``RetryPolicy.deadline``). :mod:`tokenrack.oauth.flow` keeps to it; nothing here measures time.
"""

from __future__ import annotations

from dataclasses import dataclass

# Nothing heavier than dataclasses at import: the in-process store takes its failure
# backoff from here, and stays as cheap to import as the stdlib pieces it uses.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import random

    from tokenrack.oauth.message import HttpResponse

__all__ = [
    "DEFAULT_DEADLINE",
    "FAILURE_BACKOFF",
    "RETRYABLE_STATUSES",
    "Backoff",
    "RetryPolicy",
    "server_wait_seconds",
]

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

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


@dataclass(frozen=True, slots=True)
class Backoff:
    """A fixed schedule of waits after consecutive failures, the last step repeating.

    Used where there is no server to ask and no jitter is wanted: the next refresh after a
    failed one (the in-process store), and the next try of a cache that stopped answering
    (the circuit breaker). Token requests themselves wait by :class:`RetryPolicy`.

    Attributes:
        steps: Seconds to wait after the first, second, ... failure in a row.
    """

    steps: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 30.0)

    def __post_init__(self) -> None:
        if not self.steps:
            raise ValueError("a Backoff needs at least one step")

    def after(self, failures: int) -> float:
        """Seconds to wait after ``failures`` failures in a row (1-based; past the end, the last).

        Args:
            failures: How many consecutive failures there have been (0 counts as 1).
        """
        steps = self.steps
        return steps[min(max(failures, 1), len(steps)) - 1]


FAILURE_BACKOFF = Backoff()
"""1, 2, 5, 10, then 30 s: long enough not to hammer a server or cache that is down, short
enough that a caller notices its recovery within half a minute."""


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
        from email.utils import parsedate_to_datetime

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
