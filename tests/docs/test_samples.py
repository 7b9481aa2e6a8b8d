"""Every sample in the docs runs as written (issue 11, ux F9, F25 and §2).

Each python block of the pages below is run (blocks marked ``continues`` in the namespace
of the one before); a block that defines tests (``def test_…``, ``class Test…``) is run by
pytest in a subprocess, as its reader would run it; each yaml block that is a whole config
(``version:``) is loaded with ``Registry.from_file``, the loader a reader's file meets. A
block is left out only with ``<!-- sample: skip (reason) -->``;
:func:`test_every_page_accounts_for_its_blocks` says how many each page runs and skips,
and fails on a marker it does not know. A sample marked ``raises NAME`` passes only if it
raises that error (an invalid config shown on purpose). The markers are described in
``tests/docs/samples.py`` and in docs/testing.md.

Each page gets what its samples assume (:data:`PAGES`): environment variables, the page's
config pointed at a running emulator (as ``TOKENRACK_CONFIG`` and ``./tokenrack.yaml``), and
modules and files the page itself defines.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

import tokenrack
from tests.docs.samples import Sample, read_blocks, samples
from tokenrack import Registry
from tokenrack.testing import EmulatorClient, TokenEmulator

DOCS = Path(__file__).resolve().parents[2] / "docs"


@dataclass
class Page:
    """What one page's samples need around them.

    Attributes:
        env: Environment variables set while its samples run (and for its yaml configs).
        clients: Clients an emulator accepts while its samples run; when given, the
            page's first whole config is written, its token URLs pointed at that emulator,
            to ``tokenrack.yaml`` (also ``TOKENRACK_CONFIG``) and ``billing.yaml`` in the
            working directory.
    """

    env: dict[str, str] = field(default_factory=dict)
    clients: list[EmulatorClient] = field(default_factory=list)


PAGES = {
    "configuration.md": Page(
        env={"TOKENRACK_CACHE_KEY": "a" * 44, "BILLING_CLIENT_SECRET": "billing-secret-value"}
    ),
    "cli.md": Page(),
    "plugins.md": Page(env={"ACME_SECRET": "example-secret"}),
    "testing.md": Page(),
    "auth/client_assertion.md": Page(),
    "getting-started.md": Page(
        env={"BILLING_CLIENT_SECRET": "billing-secret-value"},
        clients=[EmulatorClient("billing-service", "billing-secret-value")],
    ),
}

ALL = [(page, sample) for page in PAGES for sample in samples(DOCS / page)]


def _is_test_module(code: str) -> bool:
    return re.search(r"^(def test_|class Test)", code, re.M) is not None


def _whole_config(page: str) -> dict[str, Any] | None:
    for block in read_blocks(DOCS / page):
        if block.is_sample and block.lang == "yaml":
            loaded: dict[str, Any] = yaml.safe_load(block.code)
            return loaded
    return None


@pytest.fixture
def page_setup(
    case: tuple[str, Sample], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[], dict[str, str]]]:
    """Set the page up around a sample; yields a function returning the child env."""
    page_name = case[0]
    page = PAGES[page_name]
    monkeypatch.chdir(tmp_path)
    for name, value in page.env.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "modules").mkdir()
    monkeypatch.syspath_prepend(str(tmp_path / "modules"))
    before = set(sys.modules)
    emulator = TokenEmulator(page.clients) if page.clients else None
    try:
        if emulator is not None:
            emulator.start()
            config = _whole_config(page_name)
            assert config is not None, f"{page_name} has clients but no whole config"
            for profile in config.get("profiles", {}).values():
                if "token_url" in profile:
                    profile["token_url"] = emulator.token_url
            for name in ("tokenrack.yaml", "billing.yaml"):  # billing.yaml: getting-started
                (tmp_path / name).write_text(yaml.safe_dump(config))
            monkeypatch.setenv("TOKENRACK_CONFIG", str(tmp_path / "tokenrack.yaml"))
        tokenrack.configure(None)
        yield lambda: {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(tmp_path / "modules"), *sys.path]),
        }
    finally:
        tokenrack.configure(None)
        if emulator is not None:
            emulator.stop()
        # Forget the page's own modules (two pages may both define tokenrack_acme), and
        # nothing else: a library imported for the first time by a sample stays.
        for name in set(sys.modules) - before:
            where = getattr(sys.modules[name], "__file__", None) or ""
            if where.startswith(str(tmp_path)):
                del sys.modules[name]


def _run_python(sample: Sample, tmp_path: Path, child_env: dict[str, str]) -> None:
    code = "".join(block.code for block in sample.blocks)
    for block in sample.blocks:
        if block.module:
            (tmp_path / "modules" / f"{block.module}.py").write_text(block.code)
    if _is_test_module(code):
        test_file = (
            tmp_path
            / f"test_{sample.first.page.replace('.', '_').replace('-', '_')}_{sample.first.line}.py"
        )
        test_file.write_text(code)
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "--rootdir",
                str(tmp_path),
                str(test_file),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            cwd=tmp_path,
            env=child_env,
        )
        assert done.returncode == 0, f"{sample.id}: its tests failed\n{done.stdout}\n{done.stderr}"
        assert re.search(r"\b\d+ passed\b", done.stdout), done.stdout
        return
    namespace: dict[str, Any] = {"__name__": "__sample__"}
    for block in sample.blocks:
        exec(compile(block.code, block.where, "exec"), namespace)


def _provide_earlier(page: str, sample: Sample, tmp_path: Path) -> None:
    """Write the page's ``module`` and ``file`` blocks above this sample where it finds them."""
    for block in read_blocks(DOCS / page):
        if block.line >= sample.first.line:
            break
        if block.module:
            (tmp_path / "modules" / f"{block.module}.py").write_text(block.code)
        if block.file:
            (tmp_path / block.file).write_text(block.code)


@pytest.mark.parametrize("case", ALL, ids=[sample.id for _, sample in ALL])
def test_sample_runs(
    case: tuple[str, Sample], page_setup: Callable[[], dict[str, str]], tmp_path: Path
) -> None:
    page, sample = case
    if sample.first.skip:
        pytest.skip(f"{sample.id}: {sample.first.skip}")
    _provide_earlier(page, sample, tmp_path)
    expected = sample.blocks[-1].raises or sample.first.raises
    try:
        if sample.first.lang == "yaml":
            # Through the file loader, as a reader would use it (duplicate keys, line numbers).
            config = tmp_path / "sample.yaml"
            config.write_text(sample.first.code)
            with Registry.from_file(config) as registry:
                assert registry.profiles()
        else:
            _run_python(sample, tmp_path, page_setup())
    except Exception as error:
        if expected is None or expected not in {c.__name__ for c in type(error).__mro__}:
            raise
        return
    assert expected is None, f"{sample.id}: expected {expected}, but it ran"


def test_every_page_accounts_for_its_blocks(capsys: pytest.CaptureFixture[str]) -> None:
    """Each sample runs or is skipped with a reason; the counts per page are reported."""
    report = []
    for page in PAGES:
        found = samples(DOCS / page)  # raises MarkerError on an unknown marker
        skipped = [s for s in found if s.first.skip]
        for sample in skipped:
            assert sample.first.skip.strip(), f"{sample.id}: a skip needs a reason"
        report.append(f"{page}: {len(found) - len(skipped)} run, {len(skipped)} skipped")
    with capsys.disabled():
        print("\n" + "\n".join(report))
    assert {page for page, _ in ALL} >= {"plugins.md", "testing.md", "getting-started.md"}
