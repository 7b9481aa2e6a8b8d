"""Retry policy: backoff with full jitter, Retry-After and rate-limit resets."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from tests.conftest import without_coverage
from tokenrack.oauth.message import HttpResponse
from tokenrack.oauth.retry import FAILURE_BACKOFF, Backoff, RetryPolicy, server_wait_seconds

NOW = 1_800_000_000.0


def response(**headers: str) -> HttpResponse:
    return HttpResponse(status=503, headers=headers, body=b"", url="https://x", sent_at=NOW)


def test_full_jitter_stays_under_the_exponential_ceiling() -> None:
    policy = RetryPolicy(attempts=6, backoff=0.5, max_backoff=3)
    rng = random.Random(1)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (5, 3.0)]:
        draws = [policy.delay(attempt, None, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in draws)
        assert max(draws) > ceiling * 0.8  # the whole range is used, not a fixed delay


def test_server_wait_raises_the_delay_but_is_capped() -> None:
    policy = RetryPolicy(backoff=0.1, max_backoff=5)
    rng = random.Random(2)
    assert policy.delay(1, 2.0, rng) == 2.0
    assert policy.delay(1, 3600.0, rng) == 5.0


def test_retry_after_seconds() -> None:
    assert server_wait_seconds(response(**{"retry-after": "7"}), now=NOW) == 7.0


def test_retry_after_http_date() -> None:
    date = format_datetime(datetime.fromtimestamp(NOW + 30, UTC), usegmt=True)
    assert server_wait_seconds(response(**{"retry-after": date}), now=NOW) == pytest.approx(30)


def test_retry_after_garbage_is_ignored() -> None:
    assert server_wait_seconds(response(**{"retry-after": "soon"}), now=NOW) is None


def test_rate_limit_reset_epoch_and_delta() -> None:
    assert (
        server_wait_seconds(response(**{"x-rate-limit-reset": str(int(NOW) + 12)}), now=NOW) == 12
    )
    assert server_wait_seconds(response(**{"x-ratelimit-reset": "4"}), now=NOW) == 4


def test_no_header_no_wait() -> None:
    assert server_wait_seconds(response(), now=NOW) is None


def test_backoff_walks_its_steps_then_repeats_the_last() -> None:
    backoff = Backoff()
    assert [backoff.after(n) for n in range(1, 8)] == [1.0, 2.0, 5.0, 10.0, 30.0, 30.0, 30.0]


def test_backoff_counts_zero_failures_as_one_and_takes_any_schedule() -> None:
    assert Backoff().after(0) == 1.0
    assert Backoff((0.5, 4.0)).after(3) == 4.0


def test_backoff_needs_a_step() -> None:
    with pytest.raises(ValueError, match="at least one step"):
        Backoff(())


def test_store_and_breaker_share_one_failure_backoff() -> None:
    import tokenrack.cache.guard as guard
    import tokenrack.core.store as store

    assert store.FAILURE_BACKOFF is FAILURE_BACKOFF
    assert guard.FAILURE_BACKOFF is FAILURE_BACKOFF
    assert FAILURE_BACKOFF.steps == (1.0, 2.0, 5.0, 10.0, 30.0)


def test_importing_retry_stays_cheap() -> None:
    import subprocess
    import sys

    code = (
        "import sys; import tokenrack.oauth.retry; "
        "print(','.join(m for m in ('email.utils', 'tokenrack.oauth.message', 'random') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=without_coverage(),
    ).stdout
    assert out.strip() == ""
