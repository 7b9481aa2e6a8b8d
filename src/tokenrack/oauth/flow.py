"""One token fetch as a sans-I/O generator: provider flow, client auth, retries.

:func:`fetch_steps` yields :class:`Send` and :class:`Sleep` steps and is sent back what each
send produced; it returns a :class:`FetchResult`. It never touches a socket or sleeps, so the
same logic is driven by :func:`drive` here and can be driven by an async driver without a
copy of the retry rules.

A fetch has a deadline (``RetryPolicy.deadline``), counted on the core's clock from its
first request: no wait is begun that would end past it, and each :class:`Send` says how
much time is left, which the driver's transport must enforce on the request in flight (a
read timeout alone cannot: it bounds each read, and a server can answer one byte at a
time). Running out of time raises :class:`~tokenrack.errors.TokenEndpointUnavailableError`
with ``deadline`` set, and nothing more is tried.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator
from dataclasses import dataclass, replace
from typing import TypeVar

from tokenrack.errors import (
    ConfigError,
    TokenEndpointUnavailableError,
    TokenError,
    TokenResponseError,
    scrub_error,
    without_frames,
)
from tokenrack.oauth.message import EncodedRequest, HttpResponse, TokenRequest, TransportError
from tokenrack.oauth.provider import TokenFlow
from tokenrack.oauth.retry import RETRYABLE_STATUSES, RetryPolicy, server_wait_seconds
from tokenrack.oauth.transport import Transport, TransportOptions
from tokenrack.oauth.url_policy import insecure_url_problem
from tokenrack.secret.scrub import Scrubber
from tokenrack.secret.value import Secret
from tokenrack.token import Token
from tokenrack.util.clock import Clock
from tokenrack.util.log import get_logger

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
    """Send this request once; the driver sends back an HttpResponse or a TransportError.

    Attributes:
        request: The wire request.
        sent_at: The epoch time to record as the moment of sending.
        time_left: Seconds left before the fetch's deadline. The send must be over by then,
            connecting and reading included: the driver passes it to the transport as
            ``TransportOptions.deadline``, which cuts the request off and reports a
            ``deadline`` TransportError. None: only the timeouts bound it.
    """

    request: EncodedRequest
    sent_at: float
    time_left: float | None = None


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
        known_secrets: The profile's resolved secrets, scrubbed from any error text (a
            server may echo what it was sent); kept wrapped, so no frame shows them.
        started_at: The monotonic time the fetch's deadline started counting, when the
            fetch began before this flow (an ``auto`` fallback to a second method shares
            the first one's budget); None starts it at the flow's first request.
        sender_constraint: Completes every attempt after client authentication, whatever
            the grant (a fresh DPoP proof, RFC 9449); None: nothing to add.
    """

    authenticate: Callable[[TokenRequest], TokenRequest]
    policy: RetryPolicy
    clock: Clock
    rng: random.Random
    allow_insecure_http: bool
    profile: str
    source: str | None = None
    known_secrets: tuple[Secret, ...] = ()
    started_at: float | None = None
    sender_constraint: Callable[[TokenRequest], TokenRequest] | None = None


class Attempts:
    """Counts requests across a whole flow; knows when the last was sent and the deadline.

    Attributes:
        total: Requests made so far.
        sent_at_monotonic: When the last one was sent.
        deadline_at: When the flow's time runs out (set at its first request).
    """

    def __init__(self) -> None:
        self.total = 0
        self.sent_at_monotonic = 0.0
        self.deadline_at: float | None = None


def _out_of_time(
    settings: FetchSettings,
    attempts: Attempts,
    url: str,
    what: str,
    *,
    last_status: int | None = None,
) -> TokenEndpointUnavailableError:
    seconds = settings.policy.deadline
    return TokenEndpointUnavailableError(
        f"deadline of {seconds:g}s exceeded: {what}",
        attempts=attempts.total,
        last_status=last_status,
        url=url,
        deadline=seconds,
    )


def _check_url(request: TokenRequest, settings: FetchSettings) -> None:
    """Refuse a token URL the profile may not send credentials to.

    Raises:
        ConfigError: Naming the profile's ``token_url``.
    """
    problem = insecure_url_problem(request.url, allow_insecure_http=settings.allow_insecure_http)
    if problem:
        raise ConfigError(
            problem,
            file=settings.source,
            profile=settings.profile,
            path=f"profiles.{settings.profile}.token_url",
        )


def _start_deadline(settings: FetchSettings, attempts: Attempts) -> float:
    """The fetch's deadline on the monotonic clock, started by its first request."""
    if attempts.deadline_at is None:
        started = (
            settings.started_at if settings.started_at is not None else settings.clock.monotonic()
        )
        attempts.deadline_at = started + settings.policy.deadline
    return attempts.deadline_at


def _classify(
    outcome: Outcome,
    attempt: int,
    *,
    url: str,
    settings: FetchSettings,
    attempts: Attempts,
) -> tuple[float, str, int | None] | None:
    """What one attempt's outcome means: None for the answer, else how to retry.

    Returns:
        None when ``outcome`` is the answer to return (any status that is not retried),
        else ``(wait, why, last_status)``: the seconds to wait before the next attempt,
        what went wrong (for the log and a deadline error), and the HTTP status if any.

    Raises:
        TokenResponseError: An answer larger than the transport reads.
        TokenEndpointUnavailableError: The deadline cut the request off, the failure is
            not worth another attempt, or this was the last attempt.
    """
    policy = settings.policy
    last = attempt == policy.attempts
    if isinstance(outcome, TransportError):
        if outcome.kind == "too_large":
            raise TokenResponseError(f"{outcome} (from {url})")
        if outcome.kind == "deadline":
            raise _out_of_time(settings, attempts, url, str(outcome))
        if not outcome.retryable or last:
            raise TokenEndpointUnavailableError(str(outcome), attempts=attempts.total, url=url)
        return policy.delay(attempt, None, settings.rng), str(outcome), None
    assert outcome is not None
    if outcome.status not in RETRYABLE_STATUSES:
        return None
    if last:
        raise TokenEndpointUnavailableError(
            f"HTTP {outcome.status}",
            attempts=attempts.total,
            last_status=outcome.status,
            url=url,
        )
    server_wait = server_wait_seconds(outcome, now=settings.clock.time())
    wait = policy.delay(attempt, server_wait, settings.rng)
    return wait, f"HTTP {outcome.status}", outcome.status


def exchange(
    request: TokenRequest, settings: FetchSettings, attempts: Attempts
) -> Generator[Step, Outcome, tuple[HttpResponse, Scrubber]]:
    """Send one logical request, retrying what another attempt can fix.

    Returns the final answer and a scrubber of the secrets the request carried (to mask
    their echoes in any error raised while parsing it). Keeps to the deadline that
    ``attempts`` counts down (started here at the flow's first request): a wait that would
    end past it is not begun.

    Raises:
        TokenEndpointUnavailableError: No usable answer after every attempt, or none
            before the deadline (then ``deadline`` is set).
        TokenResponseError: An answer larger than the transport reads.
        ConfigError: A URL the profile may not send credentials to.
    """
    _check_url(request, settings)
    policy = settings.policy
    clock = settings.clock
    deadline_at = _start_deadline(settings, attempts)
    for attempt in range(1, policy.attempts + 1):
        # Authenticate every attempt afresh: a signed assertion must not be replayed.
        prepared = settings.authenticate(request) if request.authenticate else request
        if settings.sender_constraint is not None:
            prepared = settings.sender_constraint(prepared)
        # Wrapped, not revealed: this frame is on the traceback of every failed fetch.
        secrets = Scrubber((*prepared.secrets(), *settings.known_secrets))
        now = clock.monotonic()
        left = deadline_at - now
        if left <= 0:
            # Only a later step of a multi-request flow (or a second auth method) gets here:
            # within one exchange, no wait is begun that would end past the deadline.
            raise _out_of_time(settings, attempts, request.url, "no time left to send a request")
        sent_at = clock.time()
        attempts.sent_at_monotonic = now
        attempts.total += 1
        outcome = yield Send(prepared.encode(), sent_at, time_left=left)
        retry = _classify(outcome, attempt, url=request.url, settings=settings, attempts=attempts)
        if retry is None:
            assert outcome is not None and not isinstance(outcome, TransportError)
            return outcome, secrets
        wait, why, last_status = retry
        left = deadline_at - clock.monotonic()
        if wait >= left:
            # Never sleep past the deadline, nor up to it only to be cut off at once.
            raise _out_of_time(
                settings,
                attempts,
                request.url,
                f"{why}, and another attempt could not start before it "
                f"(a wait of {wait:.1f}s, {max(left, 0.0):.1f}s left)",
                last_status=last_status,
            )
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
        TokenEndpointUnavailableError: No usable answer after every retry, or none before
            the deadline.
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
            # The frames that read the answer hold what the server sent, echoes included:
            # the error goes on from here, without them and without what it was raised from.
            raise without_frames(error) from None


def drive(
    steps: Generator[Step, Outcome, T],
    *,
    transport: Transport,
    options: TransportOptions,
    clock: Clock,
) -> T:
    """Run ``steps`` with a blocking transport and the clock's sleep; return their result.

    Each send's ``time_left`` goes to the transport as ``TransportOptions.deadline``.
    """
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
        bounded = options if step.time_left is None else replace(options, deadline=step.time_left)
        try:
            outcome = transport.send(step.request, options=bounded, sent_at=step.sent_at)
        except TransportError as failure:
            outcome = failure
