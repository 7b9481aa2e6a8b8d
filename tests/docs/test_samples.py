"""Every sample in the docs runs as written (issue 11, ux F9, F25 and §2).

Each python block of the pages below is run (blocks marked ``continues`` in the namespace
of the one before); a block that defines tests (``def test_…``, ``class Test…``) is run by
pytest in a subprocess, as its reader would run it; each yaml block that is a whole config
(``version:``) is loaded with ``Registry.from_file``, the loader a reader's file meets. On
the pages that ask for it (:attr:`Page.shell`, :attr:`Page.fragments`), each shell block is
run by ``bash -e`` (``zsh``/``fish`` blocks by that shell) with the installed ``tokenrack``
on ``PATH``, against an emulator, and must end with the exit status it implies (0, or the
``exit N`` marker's); each yaml fragment (profiles, a ``cache:``/``defaults:`` mapping, some
keys of one profile) is wrapped into a whole config, loaded, and each of its profiles built
with ``Registry.runtime``. A block is left out only with ``<!-- sample: skip (reason) -->``
(or ``<!-- sample: other (what it is) -->`` for a kubeconfig or a manifest);
:func:`test_every_page_accounts_for_its_blocks` says how many each page runs and skips,
and fails on a marker it does not know. A sample marked ``raises NAME`` passes only if it
raises that error (an invalid config shown on purpose). The markers are described in
``tests/docs/samples.py`` and in docs/testing.md.

Each page gets what its samples assume (:data:`PAGES`): environment variables, the page's
config pointed at a running emulator (as ``TOKENRACK_CONFIG`` and ``./tokenrack.yaml``), and
modules and files the page itself defines.
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

import tokenrack
from tests.docs.fake_api import FakeApi
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
        config: The config to write there instead of the page's first whole config.
        shell: Its ``sh``/``bash``/``console``/``zsh``/``fish`` blocks are samples, run
            in a subprocess with ``HOME`` and ``XDG_CACHE_HOME`` in the test's directory,
            and ``curl`` pointed at a :class:`~tests.docs.fake_api.FakeApi`.
        fragments: Its yaml fragments are samples, wrapped around :data:`BASE_PROFILE`.
        files: Files (executable) written to the working directory for its samples.
        programs: Programs put first on ``PATH`` (a secret command's ``vault``).
    """

    env: dict[str, str] = field(default_factory=dict)
    clients: list[EmulatorClient] = field(default_factory=list)
    config: dict[str, Any] | None = None
    shell: bool = False
    fragments: bool = False
    files: dict[str, str] = field(default_factory=dict)
    programs: dict[str, str] = field(default_factory=dict)


# The profile a fragment that is not a whole profile is merged into (and the one beside a
# ``defaults:`` fragment): what configuration.md's own whole configs call billing.
BASE_PROFILE: dict[str, Any] = {
    "provider": "generic",
    "token_url": "https://login.acme.example/oauth2/token",
    "client_id": "billing-service",
    "client_secret": {"env": "BILLING_CLIENT_SECRET"},
}

# cli.md's samples name billing (the default profile) and reporting.
CLI_CONFIG: dict[str, Any] = {
    "version": 1,
    "default_profile": "billing",
    "profiles": {
        "billing": {
            **BASE_PROFILE,
            "scopes": ["read:invoices"],
        },
        "reporting": {
            "provider": "generic",
            "token_url": "https://login.acme.example/oauth2/token",
            "client_id": "reporting-service",
            "client_secret": {"env": "REPORTING_CLIENT_SECRET"},
            "auth_method": "client_secret_post",
        },
    },
    # tokenrack serve: billing, to this user's processes on the unix socket.
    "agent": {"profiles": {"billing": {"uids": [os.getuid()]}}},
}

# The commands cli.md's exec samples start: each checks what the page says it gets.
CLI_FILES = {
    "sync-invoices.sh": "#!/bin/sh\n# the token, not the secret behind it\n"
    'test -n "$TOKENRACK_TOKEN" && test -n "$TOKENRACK_TOKEN_EXPIRES_AT" '
    '&& test -z "$BILLING_CLIENT_SECRET"\n',
    "report.sh": '#!/bin/sh\ntest -n "$TOKENRACK_TOKEN" && test "$*" = "--month 11"\n',
    "needs-the-secret-too.sh": "#!/bin/sh\n# --keep-env\n"
    'test -n "$TOKENRACK_TOKEN" && test -n "$BILLING_CLIENT_SECRET"\n',
    "sync.py": 'import os\n\nassert os.environ["BILLING_TOKEN"] and os.environ["BILLING_TOKEN_EXPIRES_AT"]\n',
}

# configuration.md's secret command runs vault; this one answers as `vault kv get` would.
FAKE_VAULT = (
    '#!/bin/sh\ntest "$*" = "kv get -field=secret kv/billing" || exit 2\n'
    "echo billing-secret-value\n"
)


SECRETS = {
    "BILLING_CLIENT_SECRET": "billing-secret-value",
    "REPORTING_CLIENT_SECRET": "reporting-secret-value",
}

PAGES = {
    "configuration.md": Page(
        env={"TOKENRACK_CACHE_KEY": "a" * 44, **SECRETS},
        fragments=True,
        programs={"vault": FAKE_VAULT},
    ),
    "cli.md": Page(
        env=SECRETS,
        clients=[
            EmulatorClient("billing-service", SECRETS["BILLING_CLIENT_SECRET"]),
            EmulatorClient("reporting-service", SECRETS["REPORTING_CLIENT_SECRET"]),
        ],
        config=CLI_CONFIG,
        shell=True,
        fragments=True,
        files=CLI_FILES,
    ),
    "plugins.md": Page(env={"ACME_SECRET": "example-secret"}),
    "testing.md": Page(),
    "jwt-bearer.md": Page(
        env={"DOCUSIGN_PRIVATE_KEY": "not read at load", "SERVICENOW_CLIENT_SECRET": "x"}
    ),
    "auth/client_assertion.md": Page(),
    "getting-started.md": Page(
        env={"BILLING_CLIENT_SECRET": "billing-secret-value"},
        clients=[EmulatorClient("billing-service", "billing-secret-value")],
    ),
}


def page_samples(page: str) -> list[Sample]:
    """The page's samples, with the kinds its :class:`Page` asks for."""
    setup = PAGES[page]
    return samples(DOCS / page, shell=setup.shell, fragments=setup.fragments)


ALL = [(page, sample) for page in PAGES for sample in page_samples(page)]


def _is_test_module(code: str) -> bool:
    return re.search(r"^(def test_|class Test)", code, re.M) is not None


def _whole_config(page: str) -> dict[str, Any] | None:
    for block in read_blocks(DOCS / page):
        if block.is_sample and block.lang == "yaml":
            loaded: dict[str, Any] = yaml.safe_load(block.code)
            return loaded
    return None


@dataclass
class Setup:
    """What a page's setup gives its sample.

    Attributes:
        env: Returns the environment for a child process.
        api: The HTTPS API the page's ``curl`` reaches (shell pages).
    """

    env: Callable[[], dict[str, str]]
    api: FakeApi | None = None


def _write(path: Path, text: str, *, executable: bool = False) -> None:
    path.write_text(text)
    if executable:
        path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def page_setup(
    case: tuple[str, Sample], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Setup]:
    """Set the page up around a sample; yields the child env and the fake API."""
    page_name = case[0]
    page = PAGES[page_name]
    monkeypatch.chdir(tmp_path)
    for name in ("TOKENRACK_PROFILE", "TOKENRACK_CLI_CACHE", "TOKENRACK_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in page.env.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "modules").mkdir()
    monkeypatch.syspath_prepend(str(tmp_path / "modules"))
    for name, text in page.files.items():
        _write(tmp_path / name, text, executable=True)
    if page.programs:
        (tmp_path / "bin").mkdir()
        for name, text in page.programs.items():
            _write(tmp_path / "bin" / name, text, executable=True)
        monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    if page.shell:
        (tmp_path / "home").mkdir(mode=0o700)
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
        # The installed tokenrack (and this python), as the reader's shell finds them.
        bin_dir = Path(sys.executable).parent
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    before = set(sys.modules)
    emulator = TokenEmulator(page.clients) if page.clients else None
    api: FakeApi | None = None
    try:
        if emulator is not None:
            emulator.start()
            config = copy.deepcopy(page.config) or _whole_config(page_name)
            assert config is not None, f"{page_name} has clients but no whole config"
            for profile in config.get("profiles", {}).values():
                if "token_url" in profile:
                    profile["token_url"] = emulator.token_url
            for name in ("tokenrack.yaml", "billing.yaml"):  # billing.yaml: getting-started
                (tmp_path / name).write_text(yaml.safe_dump(config))
            monkeypatch.setenv("TOKENRACK_CONFIG", str(tmp_path / "tokenrack.yaml"))
            if page.shell:
                api = FakeApi(tmp_path, issued=lambda: emulator.issued_tokens).start()
                _write(tmp_path / "home" / ".curlrc", api.curlrc())
        tokenrack.configure(None)
        yield Setup(
            env=lambda: {
                **os.environ,
                "PYTHONPATH": os.pathsep.join([str(tmp_path / "modules"), *sys.path]),
            },
            api=api,
        )
    finally:
        tokenrack.configure(None)
        if api is not None:
            api.stop()
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


SHELLS = {
    "sh": ["bash", "-e", "-o", "pipefail"],
    "bash": ["bash", "-e", "-o", "pipefail"],
    "console": ["bash", "-e", "-o", "pipefail"],
    "zsh": ["zsh", "-e", "-o", "pipefail"],
    "fish": ["fish"],
}


def _run_shell(sample: Sample, tmp_path: Path, setup: Setup) -> None:
    """Run a shell block as its reader would; it must end with the status it implies."""
    block = sample.first
    shell = SHELLS[block.lang]
    if shutil.which(shell[0]) is None:
        pytest.skip(f"{sample.id}: {shell[0]} is not installed here")
    script = tmp_path / f"sample-{block.line}.{block.lang}"
    script.write_text(block.commands)
    # A session of its own, so that whatever the block leaves running is stopped with it.
    with subprocess.Popen(
        [*shell, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=setup.env(),
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=60)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    said = f"{block.commands}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    assert process.returncode == block.exit, (
        f"{sample.id}: exit status {process.returncode}, expected {block.exit}\n{said}"
    )
    assert "Traceback" not in stderr, f"{sample.id}: a traceback\n{said}"
    if setup.api is not None and re.search(r"^\s*curl\b(?!.*--unix-socket)", block.commands, re.M):
        assert setup.api.seen, f"{sample.id}: its curl reached no API\n{said}"
        assert all(ok for _, ok in setup.api.seen), setup.api.seen


def _wrap(fragment: dict[str, Any]) -> dict[str, Any]:
    """A whole config around a fragment: profiles, top-level keys, or one profile's keys."""
    if all(isinstance(value, dict) and "provider" in value for value in fragment.values()):
        return {"version": 1, "profiles": fragment}
    if set(fragment) <= {"defaults", "default_profile", "profiles"}:
        return {"version": 1, "profiles": {"billing": dict(BASE_PROFILE)}, **fragment}
    return {"version": 1, "profiles": {"billing": {**BASE_PROFILE, **fragment}}}


def _load_fragment(sample: Sample, tmp_path: Path) -> None:
    """Load a wrapped fragment from a file and build each of its profiles."""
    config = tmp_path / "sample.yaml"
    config.write_text(yaml.safe_dump(_wrap(yaml.safe_load(sample.first.code))))
    with Registry.from_file(config) as registry:
        assert registry.profiles(), f"{sample.id}: no profile"
        for name in registry.profiles():
            registry.runtime(name)


@pytest.mark.parametrize("case", ALL, ids=[sample.id for _, sample in ALL])
def test_sample_runs(case: tuple[str, Sample], page_setup: Setup, tmp_path: Path) -> None:
    page, sample = case
    if sample.first.skip:
        pytest.skip(f"{sample.id}: {sample.first.skip}")
    if sample.first.other:
        pytest.skip(f"{sample.id}: not a tokenrack sample: {sample.first.other}")
    _provide_earlier(page, sample, tmp_path)
    expected = sample.blocks[-1].raises or sample.first.raises
    try:
        if sample.kind == "config":
            # Through the file loader, as a reader would use it (duplicate keys, line numbers).
            config = tmp_path / "sample.yaml"
            config.write_text(sample.first.code)
            with Registry.from_file(config) as registry:
                assert registry.profiles()
        elif sample.kind == "fragment":
            _load_fragment(sample, tmp_path)
        elif sample.kind == "shell":
            _run_shell(sample, tmp_path, page_setup)
        else:
            _run_python(sample, tmp_path, page_setup.env())
    except Exception as error:
        if expected is None or expected not in {c.__name__ for c in type(error).__mro__}:
            raise
        return
    assert expected is None, f"{sample.id}: expected {expected}, but it ran"


def test_every_page_accounts_for_its_blocks(capsys: pytest.CaptureFixture[str]) -> None:
    """Each sample runs or is skipped with a reason; the counts per page are reported."""
    report = []
    for page in PAGES:
        found = page_samples(page)  # raises MarkerError on an unknown marker or no outcome
        skipped = [s for s in found if s.first.skip]
        others = [s for s in found if s.first.other and not s.first.skip]
        for sample in skipped:
            assert (sample.first.skip or "").strip(), f"{sample.id}: a skip needs a reason"
        kinds = sorted({s.kind for s in found})
        run = {
            kind: sum(1 for s in found if s.kind == kind and s not in skipped + others)
            for kind in kinds
        }
        report.append(
            f"{page}: {len(found) - len(skipped) - len(others)} run "
            f"({', '.join(f'{n} {kind}' for kind, n in run.items() if n)}), "
            f"{len(skipped)} skipped, {len(others)} other"
        )
        for sample in skipped:
            report.append(f"  skipped {sample.id}: {sample.first.skip}")
        for sample in others:
            report.append(f"  other {sample.id}: {sample.first.other}")
    with capsys.disabled():
        print("\n" + "\n".join(report))
    assert {page for page, _ in ALL} >= {"plugins.md", "testing.md", "getting-started.md"}
    assert any(s.kind == "shell" for s in page_samples("cli.md"))
    assert any(s.kind == "fragment" for s in page_samples("configuration.md"))


@pytest.mark.parametrize(
    ("page", "passes"),
    [
        ("```sh\ntrue\nfalse\ntrue\n```\n", False),  # bash -e: a failing line fails the block
        ("<!-- sample: exit 3 -->\n```sh\n(exit 3)\n```\n", True),
        ("<!-- sample: exit 3 -->\n```sh\ntrue\n```\n", False),
        ("```sh\nfalse | true\n```\n", False),  # pipefail
        ("```console\n$ true\nsome output\n```\n", True),  # the output line is not run
    ],
)
def test_a_shell_sample_must_end_with_the_status_it_implies(
    tmp_path: Path, page: str, passes: bool
) -> None:
    path = tmp_path / "page.md"
    path.write_text(page)
    (sample,) = samples(path, shell=True)
    setup = Setup(env=lambda: dict(os.environ))
    if passes:
        _run_shell(sample, tmp_path, setup)
    else:
        with pytest.raises(AssertionError, match="exit status"):
            _run_shell(sample, tmp_path, setup)
