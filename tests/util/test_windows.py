"""The refresh windows' margins: the defaults, the caps, and what a profile sets."""

from __future__ import annotations

import pytest

from tokenrack.util.windows import early_margin, mandatory_margin


@pytest.mark.parametrize(
    ("lifetime", "refresh_before", "expected"),
    [
        (3600.0, None, 300.0),  # the 300 s default for an hour's token
        (60.0, None, 20.0),  # a third of a short lifetime
        (3600.0, 600.0, 600.0),  # what the profile says
        (60.0, 50.0, 30.0),  # never more than half the lifetime
        (3600.0, 0.0, 0.0),  # 0 is a value, not "unset"
    ],
)
def test_early_margin(lifetime: float, refresh_before: float | None, expected: float) -> None:
    assert early_margin(lifetime, refresh_before) == expected


@pytest.mark.parametrize(
    ("lifetime", "must_refresh_before", "early", "expected"),
    [
        (3600.0, None, 300.0, 30.0),  # the 30 s default
        (60.0, None, 20.0, 6.0),  # a tenth of a short lifetime
        (3600.0, 2000.0, 1800.0, 900.0),  # never more than a quarter of the lifetime
        (3600.0, 120.0, 60.0, 60.0),  # never before the early window
    ],
)
def test_mandatory_margin(
    lifetime: float, must_refresh_before: float | None, early: float, expected: float
) -> None:
    assert mandatory_margin(lifetime, must_refresh_before, early) == expected
