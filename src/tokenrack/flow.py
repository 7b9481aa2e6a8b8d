"""One token fetch as a sans-I/O generator: provider flow, client auth, retries.

:func:`fetch_steps` yields :class:`Send` and :class:`Sleep` steps and is sent back what each
send produced; it returns a :class:`FetchResult`. It never touches a socket or sleeps, so the
same logic is driven by :func:`drive` here and can be driven by an async driver without a
copy of the retry rules.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TypeVar

from tokenrack.clock import Clock
from tokenrack.errors import (
    ConfigError,
    TokenEndpointUnavailableError,
    TokenError,
    TokenResponseError,
    scrub_error,
)
from tokenrack.log import get_logger
from tokenrack.message import EncodedRequest, HttpResponse, TokenRequest, TransportError
from tokenrack.provider import TokenFlow
from tokenrack.retry import RETRYABLE_STATUSES, RetryPolicy, server_wait_seconds
from tokenrack.token import Token
from tokenrack.transport import Transport, TransportOptions
from tokenrack.url_policy import insecure_url_problem

__all__ = [
    "Attempts",
    "FetchResult",
    "FetchSettings",
    "Send",
    "Sleep",
    "drive",
    "exchange",
    "fetch_steps",
]

logger = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Send:
    """Send this request once; the driver sends back an HttpResponse or a TransportError."""

    request: EncodedRequest
    sent_at: float


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait this many seconds before the next step."""

    seconds: float


Step = Send | Sleep
Outcome = HttpResponse | TransportError | None
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class FetchResult:
    """A token just obtained, and the facts needed to cache it.

    Attributes:
        token: The token.
        obtained_at: Monotonic time the final request was sent.
        lifetime: Seconds the token lives from ``obtained_at``.
        attempts: Requests made, retries included.
        status: HTTP status of the final answer.
    """

    token: Token
    obtained_at: float
    lifetime: float
    attempts: int
    status: int


@dataclass(frozen=True, slots=True)
class FetchSettings:
    """What a fetch needs besides the provider's flow.

    Attributes:
        authenticate: Completes a request with client authentication.
        policy: Retry policy.
        clock: Clock for time stamps.
        rng: Random source for backoff jitter.
        allow_insecure_http: The profile's permission for plain-http token URLs.
        profile: The profile's name, for messages.
        source: The config file, for messages.
        known_secrets: The profile's resolved secret values, scrubbed from any error text
            (a server may echo what it was sent).
    """

    authenticate: Callable[[TokenRequest], TokenRequest]
    policy: RetryPolicy
    clock: Clock
    rng: random.Random
    allow_insecure_http: bool
    profile: str
    source: str | None = None
    known_secrets: tuple[str, ...] = ()


class Attempts:
    """Counts requests across a whole flow and remembers when the last one was sent."""

    def __init__(self) -> None:
        self.total = 0
        self.sent_at_monotonic = 0.0


def exchange(
    request: TokenRequest, settings: FetchSettings, attempts: Attempts
) -> Generator[Step, Outcome, tuple[HttpResponse, list[str]]]:
    """Send one logical request, retrying what another attempt can fix.

    Returns the final answer and the secret values the request carried (to scrub from any
    error raised while parsing it).
    """
    problem = insecure_url_problem(request.url, allow_insecure_http=settings.allow_insecure_http)
    if problem:
        raise ConfigError(
            problem,
            file=settings.source,
            profile=settings.profile,
            path=f"profiles.{settings.profile}.token_url",
        )
    policy = settings.policy
    for attempt in range(1, policy.attempts + 1):
        # Authenticate every attempt afresh: a signed assertion must not be replayed.
        prepared = settings.authenticate(request) if request.authenticate else request
        secrets = [*prepared.secret_values(), *settings.known_secrets]
        clock = settings.clock
        sent_at = clock.time()
        attempts.sent_at_monotonic = clock.monotonic()
        attempts.total += 1
        outcome = yield Send(prepared.encode(), sent_at)
        last = attempt == policy.attempts
        if isinstance(outcome, TransportError):
            if outcome.kind == "too_large":
                raise TokenResponseError(f"{outcome} (from {request.url})")
            if not outcome.retryable or last:
                raise TokenEndpointUnavailableError(
                    str(outcome), attempts=attempts.total, url=request.url
                )
            wait = policy.delay(attempt, None, settings.rng)
            why = str(outcome)
        else:
            assert outcome is not None
            if outcome.status not in RETRYABLE_STATUSES:
                return outcome, secrets
            if last:
                raise TokenEndpointUnavailableError(
                    f"HTTP {outcome.status}",
                    attempts=attempts.total,
                    last_status=outcome.status,
                    url=request.url,
                )
            server_wait = server_wait_seconds(outcome, now=clock.time())
            wait = policy.delay(attempt, server_wait, settings.rng)
            why = f"HTTP {outcome.status}"
        logger.info(
            "token request for profile %s to %s: attempt %d of %d failed (%s); retrying in %.2fs",
            settings.profile,
            request.url,
            attempt,
            policy.attempts,
            why,
            wait,
        )
        yield Sleep(wait)
    raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover


def fetch_steps(flow: TokenFlow, settings: FetchSettings) -> Generator[Step, Outcome, FetchResult]:
    """Drive a provider's token flow, with client auth and retries, as steps.

    Raises:
        TokenRequestError: The server refused.
        TokenResponseError: The answer was not a token.
        TokenEndpointUnavailableError: No usable answer after every retry.
        ConfigError: A token URL the profile may not send credentials to.
    """
    attempts = Attempts()
    request = next(flow)
    while True:
        response, secrets = yield from exchange(request, settings, attempts)
        try:
            request = flow.send(response)
        except StopIteration as done:
            token: Token = done.value
            return FetchResult(
                token=token,
                obtained_at=attempts.sent_at_monotonic,
                lifetime=token.expires_at - response.sent_at,
                attempts=attempts.total,
                status=response.status,
            )
        except TokenError as error:
            scrub_error(error, secrets)
            raise


def drive(
    steps: Generator[Step, Outcome, T],
    *,
    transport: Transport,
    options: TransportOptions,
    clock: Clock,
) -> T:
    """Run ``steps`` with a blocking transport and the clock's sleep; return their result."""
    outcome: Outcome = None
    while True:
        try:
            step = steps.send(outcome)
        except StopIteration as done:
            result: T = done.value
            return result
        if isinstance(step, Sleep):
            clock.sleep(step.seconds)
            outcome = None
            continue
        try:
            outcome = transport.send(step.request, options=options, sent_at=step.sent_at)
        except TransportError as failure:
            outcome = failure
