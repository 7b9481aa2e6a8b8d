"""Clocks and records (issue 16, reliability review defects 2, 3, 8 and 9).

A wall clock that steps back, a writer whose clock is ahead, a gateway whose ``Date`` is
wrong, a record whose numbers make no sense and a named pipe at a record's path: none may
serve a token past its expiry by this host's clock, and none may block a caller.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import (
    CLIENT_ID,
    SECRET,
    TOKEN_MARK,
    FakeClock,
    canary_client,
    profile,
    without_coverage,
)
from tokenrack.cache.paths import RECORD_SUFFIX
from tokenrack.core.registry import Registry
from tokenrack.oauth.response import jwt_claims
from tokenrack.testing import TokenEmulator

MakeRegistry = Callable[..., Registry]
TOKENRACK = str(Path(sys.executable).with_name("tokenrack"))


@pytest.fixture
def short() -> Iterator[TokenEmulator]:
    """An IdP issuing 3-second tokens."""
    with TokenEmulator([canary_client()], token_prefix=f"{TOKEN_MARK}-", expires_in=3) as emu:
        yield emu


def file_cache(tmp_path: Path) -> dict[str, Any]:
    return {"backend": "file", "path": str(tmp_path / "cache")}


def record_file(directory: Path) -> Path:
    (found,) = [p for p in directory.rglob("*" + RECORD_SUFFIX) if not p.name.startswith(".")]
    return found


def step_wall(clock: FakeClock, seconds: float) -> None:
    """Step only the wall clock (an NTP step, a VM resumed): the monotonic one goes on."""
    clock._wall += seconds


# -- defect 2: a step back, a writer ahead -------------------------------------------------


@pytest.mark.parametrize("back", [60.0, 600.0])
def test_a_step_back_after_an_idle_expiry_does_not_revive_the_record(
    back: float, short: TokenEmulator, make_registry: MakeRegistry, tmp_path: Path
) -> None:
    clock = FakeClock()
    first = make_registry({"p": profile(short, cache=file_cache(tmp_path))}, clock=clock)
    old = first.get_token("p").access_token
    clock.advance(10.0)  # the 3-s token expired while the host was idle
    step_wall(clock, -back)
    # A new process on this host: nothing in memory, only the file cache.
    later = make_registry({"p": profile(short, cache=file_cache(tmp_path))}, clock=clock)
    assert later.get_token("p").access_token != old
    assert short.request_count == 2


def test_an_expired_record_is_deleted_from_the_file_cache(
    short: TokenEmulator, make_registry: MakeRegistry, tmp_path: Path
) -> None:
    from tokenrack.testing import Fault

    clock = FakeClock()
    make_registry({"p": profile(short, cache=file_cache(tmp_path))}, clock=clock).get_token("p")
    path = record_file(tmp_path / "cache")
    clock.advance(10.0)
    short.fail_next(*[Fault.http(500)] * 5)  # the refresh fails: nothing replaces the record
    later = make_registry({"p": profile(short, cache=file_cache(tmp_path))}, clock=clock)
    with pytest.raises(Exception):  # noqa: B017 - which error is another test's business
        later.get_token("p")
    assert not path.exists()


@pytest.mark.parametrize("ahead_by", [120.0, 600.0])
def test_a_redis_record_from_a_writer_whose_clock_is_ahead_is_not_served(
    ahead_by: float,
    short: TokenEmulator,
    make_registry: MakeRegistry,
    redis_url: str,
    redis_prefix: str,
) -> None:
    cache = {"backend": "redis", "url": redis_url, "key_prefix": redis_prefix, "plaintext": True}
    ahead, correct = FakeClock(), FakeClock()
    step_wall(ahead, ahead_by)
    written = make_registry({"p": profile(short, cache=cache)}, clock=ahead).get_token("p")
    reader = make_registry({"p": profile(short, cache=cache)}, clock=correct)
    served = reader.get_token("p")
    # Its age cannot be known here: the reader fetched its own token.
    assert served.access_token != written.access_token and short.request_count == 2
    correct.advance(4.0)  # past the 3-s lifetime: never the writer's token, nor an old one
    assert reader.get_token("p").access_token not in (written.access_token, served.access_token)


# -- defect 2 and 8 on the CLI's warm path -------------------------------------------------


@pytest.fixture
def cli_setup(tmp_path: Path) -> Iterator[tuple[TokenEmulator, Path, dict[str, str], Path]]:
    with TokenEmulator([canary_client()], token_prefix=f"{TOKEN_MARK}-") as emu:
        home = tmp_path / "xdg-cache"
        home.mkdir()
        config = tmp_path / "tokenrack.yaml"
        entry = {
            "provider": "generic",
            "token_url": "${EMU_URL}/oauth/token",
            "client_id": CLIENT_ID,
            "client_secret": {"env": "CANARY_SECRET"},
        }
        config.write_text(yaml.safe_dump({"version": 1, "profiles": {"billing": entry}}))
        environment = {
            **os.environ,
            "CANARY_SECRET": SECRET,
            "EMU_URL": emu.url,
            "XDG_CACHE_HOME": str(home),
        }
        yield emu, config, environment, home


def cli_token(config: Path, environment: dict[str, str]) -> str:
    done = subprocess.run(
        [TOKENRACK, "--config", str(config), "token", "billing"],
        capture_output=True,
        text=True,
        env=without_coverage(environment),
        timeout=10,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def plant(path: Path, change: Callable[[dict[str, Any], float], None]) -> None:
    record = json.loads(path.read_bytes())
    change(record, time.time())
    path.write_text(json.dumps(record))


def shift(seconds: float) -> Callable[[dict[str, Any], float], None]:
    """A 3-s token's record as a clock stepped back by ``seconds`` sees it, 10 s after its
    expiry (a step back shorter than the time since the token was obtained cannot be told
    from the passing of time; docs/refresh.md)."""

    def change(record: dict[str, Any], now: float) -> None:
        lifetime = 3.0
        obtained = now - lifetime - 10.0 + seconds
        record.update(
            obtained_at=obtained,
            stored_at=obtained,
            lifetime=lifetime,
            expires_at=obtained + lifetime,
        )
        record["token"]["expires_at"] = obtained + lifetime

    return change


def _expired_fresh_looking(record: dict[str, Any], now: float) -> None:
    # obtained_at and lifetime say fresh; both expiries say it expired a second ago.
    record.update(obtained_at=now - 1.0, stored_at=now - 1.0, expires_at=now - 1.0)
    record["token"]["expires_at"] = now - 1.0


def _expired_at(record: dict[str, Any], now: float) -> None:
    shift(0.0)(record, now)


VARIANTS: dict[str, Callable[[dict[str, Any], float], None]] = {
    "step-back-60": shift(60.0),
    "step-back-600": shift(600.0),
    "lifetime-1e9": lambda r, now: (_expired_at(r, now), r.update(lifetime=1e9)),
    "lifetime-inf": lambda r, now: (_expired_at(r, now), r.update(lifetime=float("inf"))),
    "obtained-nan": lambda r, now: (_expired_at(r, now), r.update(obtained_at=float("nan"))),
    "obtained-1h-ahead": lambda r, now: (_expired_at(r, now), r.update(obtained_at=now + 3600)),
    "expires-in-the-past": _expired_fresh_looking,
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_the_cli_never_serves_a_record_expired_by_this_hosts_clock(
    variant: str, cli_setup: tuple[TokenEmulator, Path, dict[str, str], Path]
) -> None:
    emu, config, environment, home = cli_setup
    first = cli_token(config, environment)
    plant(record_file(home), VARIANTS[variant])
    assert cli_token(config, environment) != first
    assert emu.request_count == 2


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_the_library_never_serves_a_record_expired_by_this_hosts_clock(
    variant: str, emulator: TokenEmulator, make_registry: MakeRegistry, tmp_path: Path
) -> None:
    first = make_registry({"p": profile(emulator, cache=file_cache(tmp_path))})
    old = first.get_token("p").access_token
    plant(record_file(tmp_path / "cache"), VARIANTS[variant])
    later = make_registry({"p": profile(emulator, cache=file_cache(tmp_path))})
    token = later.get_token("p")
    assert token.access_token != old and emulator.request_count == 2
    assert token.expires_at > time.time()


# -- defect 3: the server's Date -----------------------------------------------------------


@pytest.mark.parametrize("shape", ["jwt-exp", "expires_on"])
@pytest.mark.parametrize("offset", [-600.0, 600.0, -1.0])
def test_a_skewed_date_never_stretches_a_lifetime_nor_fails_every_call(
    offset: float, shape: str, make_registry: MakeRegistry
) -> None:
    # A one-hour JWT (its exp, no expires_in), or a 3-s token announced by expires_on.
    with TokenEmulator(
        [canary_client()], expires_in=None, token_format="jwt" if shape == "jwt-exp" else "opaque"
    ) as emu:
        emu.date_offset = offset  # a gateway whose clock is off; the IdP's is right
        expiry = float(int(time.time()) + 3)
        if shape == "expires_on":
            emu.extra_response["expires_on"] = expiry
        registry = make_registry({"p": profile(emu)})
        token = registry.get_token("p")  # Date +600 s: not "expired on arrival"
        if shape == "jwt-exp":
            claims = jwt_claims(token.access_token)
            assert claims is not None
            expiry = float(claims["exp"])
        # Never past the expiry by this host's clock (Date -600 s stretched it by 600 s,
        # -1 s by its one-second resolution), and not cut short by a Date 600 s ahead.
        assert time.time() < token.expires_at <= expiry
        assert token.expires_at >= expiry - 2.0
        assert emu.request_count == 1


# -- defect 9: a named pipe at the record's path -------------------------------------------


def _unblock(fifo: Path) -> None:
    """Let a reader stuck in open() go (only needed on code that blocks)."""
    with contextlib.suppress(OSError):
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


def test_a_fifo_at_the_record_path_does_not_block_get_token(
    emulator: TokenEmulator, make_registry: MakeRegistry, tmp_path: Path
) -> None:
    make_registry({"p": profile(emulator, cache=file_cache(tmp_path))}).get_token("p")
    path = record_file(tmp_path / "cache")
    path.unlink()
    os.mkfifo(path, 0o600)
    later = make_registry({"p": profile(emulator, cache=file_cache(tmp_path), deadline=2)})
    got: list[str] = []
    caller = threading.Thread(target=lambda: got.append(later.get_token("p").access_token))
    caller.daemon = True
    caller.start()
    caller.join(10)
    alive = caller.is_alive()
    _unblock(path)
    assert not alive and len(got) == 1 and emulator.request_count == 2


def test_a_fifo_at_the_record_path_does_not_block_the_cli(
    cli_setup: tuple[TokenEmulator, Path, dict[str, str], Path],
) -> None:
    emu, config, environment, home = cli_setup
    cli_token(config, environment)
    path = record_file(home)
    path.unlink()
    os.mkfifo(path, 0o600)
    try:
        assert cli_token(config, environment).startswith(TOKEN_MARK)
    finally:
        _unblock(path)
    assert emu.request_count == 2


def test_a_negative_age_is_never_taken_as_zero() -> None:
    from tokenrack.cache.envelope import CLOCK_SKEW, RecordError, token_age

    now = 1_800_000_000.0
    assert token_age(now + 3.0, now) == 3.0  # within the tolerance: as old as the disagreement
    assert token_age(now - 2.0, now, stored_at=now - 1.0) == 2.0
    assert token_age(now + 1.0, now, stored_at=now + 4.0) == 3.0  # the writer's own measure
    for obtained, stored in ((now + CLOCK_SKEW + 1, None), (now, now + CLOCK_SKEW + 1)):
        with pytest.raises(RecordError, match="future"):
            token_age(obtained, now, stored)
