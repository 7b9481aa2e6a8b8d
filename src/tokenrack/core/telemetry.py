"""OpenTelemetry for token fetches, when the ``opentelemetry`` API is installed.

Libraries report through the OpenTelemetry API and let the application choose an SDK and
exporters; without one configured, the API's no-op providers make this free. tokenrack
imports ``opentelemetry`` at a fetch once the application has imported it (to configure
its SDK), never at ``import tokenrack``, and not at all when it is not installed or
``TOKENRACK_OTEL=off`` (``TOKENRACK_OTEL=on`` imports it at the first fetch regardless).
What is recorded:

- a span ``tokenrack.fetch`` per token fetch, with ``tokenrack.profile``,
  ``tokenrack.provider``, ``tokenrack.reason`` and ``tokenrack.outcome`` (``ok`` or the
  error's kind), and the error status on failure;
- a counter ``tokenrack.token.fetches`` and a histogram ``tokenrack.token.fetch.duration``
  (seconds), with ``tokenrack.profile``, ``tokenrack.provider`` and ``tokenrack.outcome``.

Never a secret, a token, a URL's query, or an error message (which may quote a server).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time

__all__ = ["FetchRecord", "fetch_record"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

_lock = threading.Lock()
_instruments: tuple[Any, Any, Any] | None = None
_checked = False


def _load() -> tuple[Any, Any, Any] | None:
    """The tracer, counter and histogram, created once; None without OpenTelemetry."""
    global _instruments, _checked
    if _checked:
        return _instruments
    if "opentelemetry" not in sys.modules and os.environ.get("TOKENRACK_OTEL") != "on":
        # An application that reports through OpenTelemetry has imported it to configure
        # its SDK (or an auto-instrumentation did); without that nothing would be recorded,
        # so a cold start does not pay for the import. Asked again at each fetch, so an
        # SDK configured later is used from then on.
        return None
    with _lock:
        if not _checked:
            _instruments = None
            if os.environ.get("TOKENRACK_OTEL") != "off":
                try:
                    from opentelemetry import metrics, trace
                except ImportError:
                    pass
                else:
                    from tokenrack import __version__

                    meter = metrics.get_meter("tokenrack", __version__)
                    _instruments = (
                        trace.get_tracer("tokenrack", __version__),
                        meter.create_counter(
                            "tokenrack.token.fetches",
                            unit="{fetch}",
                            description="Token fetches, by profile, provider and outcome",
                        ),
                        meter.create_histogram(
                            "tokenrack.token.fetch.duration",
                            unit="s",
                            description="Time to fetch a token, retries included",
                        ),
                    )
            _checked = True
    return _instruments


def reset() -> None:
    """Forget the instruments, so the next fetch creates them again (for tests)."""
    global _instruments, _checked
    with _lock:
        _instruments, _checked = None, False


class FetchRecord:
    """What one fetch reports; :func:`fetch_record` hands it out."""

    __slots__ = ("outcome",)

    def __init__(self) -> None:
        self.outcome = "ok"

    def failed(self, error: BaseException) -> None:
        """The fetch failed with ``error``; only its kind is reported."""
        self.outcome = type(error).__name__


@contextlib.contextmanager
def fetch_record(profile: str, provider: str, reason: str) -> Iterator[FetchRecord]:
    """Wrap one fetch in a span and record its outcome and duration."""
    record = FetchRecord()
    instruments = _load()
    if instruments is None:
        yield record
        return
    tracer, counter, histogram = instruments
    started = time.perf_counter()
    attributes = {"tokenrack.profile": profile, "tokenrack.provider": provider}
    with tracer.start_as_current_span(
        "tokenrack.fetch",
        attributes={**attributes, "tokenrack.reason": reason},
        record_exception=False,  # an exception's text may quote what a server said
        set_status_on_exception=False,
    ) as span:
        try:
            yield record
        finally:
            span.set_attribute("tokenrack.outcome", record.outcome)
            if record.outcome != "ok":
                from opentelemetry.trace import Status, StatusCode

                span.set_status(Status(StatusCode.ERROR, record.outcome))
            outcome = {**attributes, "tokenrack.outcome": record.outcome}
            counter.add(1, outcome)
            histogram.record(time.perf_counter() - started, outcome)
