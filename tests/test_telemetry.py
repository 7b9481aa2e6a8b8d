"""registry.stats() and OpenTelemetry: what an operator sees, and never a secret."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import SECRET, TOKEN_MARK, FakeClock, profile
from tokenrack.core import telemetry
from tokenrack.core.registry import Registry
from tokenrack.errors import InvalidRequestError, TokenEndpointUnavailableError
from tokenrack.testing import Fault, TokenEmulator

MakeRegistry = Callable[..., Registry]


def test_stats_count_hits_fetches_by_reason_and_failures(
    emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    registry = make_registry(
        {"a": profile(emulator), "unused": profile(emulator, scopes=["u"])}, clock=clock
    )
    for _ in range(5):
        registry.get_token("a")
    registry.get_token("a", force_refresh=True)
    registry.invalidate("a", reason="401")
    registry.get_token("a")
    clock.advance(3601)
    emulator.fail_next(*[Fault.http(503)] * 3)
    with pytest.raises(TokenEndpointUnavailableError):
        registry.get_token("a")
    report = registry.stats()
    a = report["a"]
    assert a["hits"] == 4  # the first call fetched; four more were hits
    assert a["fetches"] == {"cold": 1, "forced": 1, "401": 1, "expired": 1}
    assert a["failures"] == {"TokenEndpointUnavailableError": 1}
    assert "unavailable after 3 attempts" in a["last_error"]
    assert a["expires_in"] < 0  # the cached token has expired (and was not served)
    assert report["unused"] == {
        "hits": 0,
        "fetches": {},
        "failures": {},
        "last_error": None,
        "last_error_at": None,
        "expires_in": None,
    }
    assert SECRET not in repr(report) and TOKEN_MARK not in repr(report)


def test_time_left_is_reported(
    emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    registry = make_registry({"a": profile(emulator)}, clock=clock)
    registry.get_token("a")
    clock.advance(600)
    assert registry.stats()["a"]["expires_in"] == pytest.approx(3000)


@pytest.fixture
def otel() -> Iterator[tuple[Any, Any]]:
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    # The global providers can be set once per process; tokenrack asks the API for them.
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    if trace.get_tracer_provider() is not tracer_provider:  # pragma: no cover - set earlier
        pytest.skip("another test set the global OpenTelemetry providers first")
    telemetry.reset()
    yield spans, reader
    telemetry.reset()


def test_opentelemetry_span_counter_and_histogram(
    otel: tuple[Any, Any], emulator: TokenEmulator, make_registry: MakeRegistry, clock: FakeClock
) -> None:
    spans, reader = otel
    registry = make_registry({"billing": profile(emulator)}, clock=clock)
    registry.get_token("billing")
    emulator.fail_next(Fault.http(400, {"error": "invalid_request", "error_description": SECRET}))
    with pytest.raises(InvalidRequestError):
        registry.get_token("billing", force_refresh=True)
    finished = spans.get_finished_spans()
    assert [s.name for s in finished] == ["tokenrack.fetch", "tokenrack.fetch"]
    ok, failed = finished
    assert dict(ok.attributes) == {
        "tokenrack.profile": "billing",
        "tokenrack.provider": "generic",
        "tokenrack.reason": "cold",
        "tokenrack.outcome": "ok",
    }
    assert failed.attributes["tokenrack.outcome"] == "InvalidRequestError"
    assert failed.status.status_code.name == "ERROR" and failed.events == ()
    data = reader.get_metrics_data()
    metrics = {
        m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
    }
    counts = {
        dict(p.attributes)["tokenrack.outcome"]: p.value
        for p in metrics["tokenrack.token.fetches"].data.data_points
    }
    assert counts == {"ok": 1, "InvalidRequestError": 1}
    (point,) = [
        p
        for p in metrics["tokenrack.token.fetch.duration"].data.data_points
        if p.attributes["tokenrack.outcome"] == "ok"
    ]
    assert point.count == 1 and point.sum > 0
    everything = repr([(s.attributes, s.status.description, s.events) for s in finished]) + repr(
        data.to_json()
    )
    assert SECRET not in everything and TOKEN_MARK not in everything


def test_opentelemetry_is_never_imported_unless_used() -> None:
    code = (
        "import sys, tokenrack\n"
        "from tokenrack.core.registry import Registry\n"
        "print('opentelemetry' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_opentelemetry_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKENRACK_OTEL", "off")
    telemetry.reset()
    try:
        with telemetry.fetch_record("p", "generic", "cold") as record:
            assert record.outcome == "ok"
        assert telemetry._load() is None
    finally:
        telemetry.reset()
