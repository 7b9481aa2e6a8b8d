"""Issue 15, many profiles: lazy per-profile building, and 1,000 refreshes spread by jitter."""

from __future__ import annotations

import logging
import random
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FakeClock, profile, wait_until, without_coverage
from tokenrack.config import assemble, schema
from tokenrack.config.assemble import LazyProfiles
from tokenrack.core.registry import Registry
from tokenrack.errors import ConfigError
from tokenrack.testing import TokenEmulator


def _tenants(count: int, **base: Any) -> dict[str, Any]:
    """A config of ``count`` tenants extending one base profile, secrets from {env:}."""
    profiles: dict[str, Any] = {
        "base": {
            "provider": "generic",
            "client_id": "base",
            "client_secret": {"env": "BASE_SECRET"},
            **base,
        }
    }
    for index in range(count):
        profiles[f"tenant-{index:05d}"] = {
            "extends": "base",
            "client_id": f"client-{index}",
            "client_secret": {"env": f"TENANT_{index}_SECRET"},
            "scopes": [f"tenant.{index}"],
        }
    return {"version": 1, "profiles": profiles}


def _built(registry: Registry) -> frozenset[str]:
    profiles = registry.config.profiles
    assert isinstance(profiles, LazyProfiles)
    return profiles.built


def test_a_10000_profile_config_builds_only_the_profile_used() -> None:
    data = _tenants(10_000, token_url="https://idp.example/token")
    environ = {"TENANT_42_SECRET": "s3cret-42"}
    with Registry.from_dict(data, environ=environ) as registry:
        assert _built(registry) == frozenset()  # loading assembled nothing
        assert len(registry.profiles()) == 10_001
        assert "tenant-09999" in registry.config.profiles
        runtime = registry.runtime("tenant-00042")
        assert runtime.config.options["client_id"] == "client-42"
        assert _built(registry) == {"tenant-00042"}


def test_profiles_of_one_provider_share_one_composed_schema(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[object] = []
    real = schema.profile_schema

    def counted(**kwargs: Any) -> dict[str, Any]:
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(assemble, "profile_schema", counted)
    registry = Registry.from_dict(_tenants(200, token_url="https://idp.example/token"))
    with registry:
        assert registry.problems() == {}  # builds all 201
        assert _built(registry) == set(registry.profiles())
    assert len(calls) == 1


def test_problems_builds_every_profile_and_keeps_isolation() -> None:
    data = _tenants(300, token_url="https://idp.example/token")
    data["profiles"]["tenant-00123"]["client_id"] = 123  # a number where a string is needed
    with Registry.from_dict(data) as registry:
        assert _built(registry) == frozenset()
        problems = registry.problems()
        assert list(problems) == ["tenant-00123"]
        assert isinstance(problems["tenant-00123"], ConfigError)
        assert len(_built(registry)) == 301
        with pytest.raises(ConfigError, match=r"profiles\.tenant-00123\.client_id"):
            registry.get_token("tenant-00123")


def test_load_time_checks_read_the_file_without_building_profiles(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The exposure warning and the scope warning come at load, from the file as written."""
    path = tmp_path / "tenants.yaml"
    path.write_text(
        "version: 1\n"
        "profiles:\n"
        "  base: {provider: generic, token_url: 'https://idp.example/token'}\n"
        "  inline: {extends: base, client_id: a, client_secret: written-here}\n"
        "  spaced: {extends: base, client_id: b, client_secret: {env: B}, scopes: ['a b']}\n"
    )
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="tokenrack"):
        registry = Registry.from_file(path)
    with registry:
        assert _built(registry) == frozenset()
    text = "\n".join(caplog.messages)
    assert "profiles.inline.client_secret" in text and "holds secrets inline" in text
    assert "written-here" not in text
    assert "profiles.spaced.scopes: 'a b' contains a space" in text


@pytest.mark.slow
def test_1000_profiles_fetched_together_refresh_apart_one_request_each(
    emulator: TokenEmulator,
    make_registry: Callable[..., Registry],
    clock: FakeClock,
) -> None:
    """1,000 tokens obtained in the same instant: jitter spreads their refreshes.

    Every profile's early window opens at its own moment (the process's draw offset by
    the profile's name), so stepping the fake clock through the window sees the refreshes
    arrive spread out, and each profile makes exactly one refresh request.
    """
    count = 1000
    names = [f"t{index:04d}" for index in range(count)]
    registry = make_registry(
        {name: profile(emulator, scopes=[name]) for name in names},
        clock=clock,
        rng=random.Random(15),
    )
    for name in names:  # all obtained at the same fake instant: the worst case
        registry.get_token(name)
    assert emulator.request_count == count
    start = clock.monotonic()
    refreshed_at: dict[str, float] = {}
    # 3600 s tokens: the early window opens between 3300 and 3435 s, jitter deciding.
    clock.advance(3290)
    while clock.monotonic() - start < 3440:
        clock.advance(0.1)
        before = emulator.request_count
        for name in names:
            registry.get_token(name)
        wait_until(lambda: _settled(registry, names, clock))
        for request in emulator.requests[before:]:
            (scope,) = [value for key, value in request.form if key == "scope"]
            assert scope not in refreshed_at
            refreshed_at[scope] = clock.monotonic() - start
    per_profile = Counter(value for r in emulator.requests for k, value in r.form if k == "scope")
    assert set(per_profile) == set(names)
    assert set(per_profile.values()) == {2}  # the first fetch and exactly one refresh
    buckets = Counter(round(at * 10) for at in refreshed_at.values())  # 100-ms buckets
    assert len(buckets) > 100  # not all in one bucket: spread over the window
    assert max(buckets.values()) < count // 20


def _settled(registry: Registry, names: list[str], clock: FakeClock) -> bool:
    """Every background refresh started has landed: no profile is still in its early window."""
    now = clock.monotonic()
    return all(
        (entry := registry.cached(name)) is not None and entry.state(now) == "fresh"
        for name in names
    )


_EMULATOR = """
import sys
from tokenrack.testing import TokenEmulator
with TokenEmulator() as emulator:
    print(emulator.token_url, flush=True)
    sys.stdin.read()
"""


_MEASURE = """
import gc, sys, tracemalloc
from tokenrack import Registry
names = [f"t{index:03d}" for index in range(300)]
base = {"provider": "generic", "token_url": sys.argv[1], "client_id": "test-client"}
data = {"version": 1, "profiles": {
    name: {**base, "client_secret": "test-secret", "scopes": [name]} for name in names}}
with Registry.from_dict(data) as registry:
    registry.get_token(names[0])  # the transport, plugins and imports: not per token
    for name in names:
        registry.runtime(name)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for name in names[1:]:
        registry.get_token(name)
    gc.collect()
    print((tracemalloc.get_traced_memory()[0] - before) / (len(names) - 1))
"""


def test_a_cached_token_costs_under_2_kb() -> None:
    """Issue 15: what a fetch leaves behind per token, its profile already built.

    Measured in a process of its own (no test harness keeping log records), against the
    emulator in another, so that tracemalloc counts only the token, its cache entry and
    what the fetch keeps.
    """
    server = subprocess.Popen(
        [sys.executable, "-c", _EMULATOR],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=without_coverage(),
    )
    assert server.stdout is not None and server.stdin is not None
    try:
        url = server.stdout.readline().strip()
        done = subprocess.run(
            [sys.executable, "-c", _MEASURE, url],
            capture_output=True,
            text=True,
            check=True,
            env=without_coverage(),
            timeout=120,
        )
    finally:
        server.stdin.close()
        server.wait(timeout=30)
        server.stdout.close()
    per_token = float(done.stdout.strip())
    assert 0 < per_token < 2048
