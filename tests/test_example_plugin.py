"""docs/examples/tokenrack-acme installs into a fresh virtual environment and works there.

Offline: wheels of this checkout's tokenrack and of the example are built here without
build isolation, and installed with ``pip --no-index --no-deps`` into a new venv. The
third-party libraries tokenrack needs (requests, PyYAML, jsonschema, stevedore, and pytest
for the example's own tests) are lent from this environment by linking them, and only
them, into a directory the new venv has on its path; nothing of tokenrack, and nothing of
the vendor pack, comes along. The plugin is listed twice: through `PluginCatalog`, and by
the `tokenrack providers` console script installed in that environment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "examples" / "tokenrack-acme"
OURS = ("tokenrack", "_tokenrack", "__editable__", "tokenrack_providers", "tokenrack_acme")


def run(*argv: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in argv],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=cwd,
        env={**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert done.returncode == 0, f"{argv}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def lend_dependencies(target: Path) -> None:
    """Link this environment's third-party packages (never tokenrack's) into ``target``."""
    target.mkdir()
    site = Path(sysconfig.get_paths()["purelib"])
    for entry in site.iterdir():
        name = entry.name.lower().replace("-", "_")
        if name.startswith(OURS) or entry.suffix == ".pth" or name in ("pip", "setuptools"):
            continue
        if name.startswith(("pip-", "setuptools-", "distutils")):
            continue
        (target / entry.name).symlink_to(entry)


@pytest.mark.slow
def test_example_plugin_in_a_fresh_venv(tmp_path: Path) -> None:
    # Copies, so that building leaves no build/ or egg-info in the checkout.
    core = tmp_path / "tokenrack-src"
    shutil.copytree(
        ROOT / "src", core / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", core)
    shutil.copy(ROOT / "README.md", core)
    example = tmp_path / "tokenrack-acme"
    shutil.copytree(
        EXAMPLE, example, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__", "build")
    )
    wheels = tmp_path / "wheels"
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        "--wheel-dir",
        wheels,
        core,
        example,
    )
    built = sorted(p.name.split("-")[0] for p in wheels.glob("*.whl"))
    assert built == ["tokenrack", "tokenrack_acme"]

    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env)
    python = env / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", *wheels.glob("*.whl"))
    lend_dependencies(tmp_path / "lent")
    fresh_site = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    (Path(fresh_site.strip()) / "lent.pth").write_text(str(tmp_path / "lent") + "\n")

    listing = run(
        python,
        "-c",
        textwrap.dedent("""
        import tokenrack
        from tokenrack.core.catalog import PROVIDERS, PluginCatalog
        print(tokenrack.__file__)
        for plugin in PluginCatalog().installed(PROVIDERS):
            print(plugin.name, plugin.distribution, plugin.value)
    """),
    )
    where, *rows = listing.splitlines()
    assert where.startswith(str(env))  # the wheel, not this checkout
    assert rows == [
        "acme tokenrack-acme tokenrack_acme:AcmeProvider",
        "generic tokenrack tokenrack.oauth.generic:GenericProvider",
    ]

    # The console script of the fresh environment lists the plugin with its distribution.
    tokenrack = env / "bin" / "tokenrack"
    listed = json.loads(run(tokenrack, "providers", "--json"))
    providers = {r["name"]: r for r in listed if r["group"] == "tokenrack.providers"}
    assert sorted(providers) == ["acme", "generic"]
    assert providers["acme"]["distribution"] == "tokenrack-acme"
    assert providers["acme"]["target"] == "tokenrack_acme:AcmeProvider"
    assert providers["acme"]["status"] == "ok"
    table = run(tokenrack, "providers").splitlines()
    assert any(line.split()[:2] == ["acme", "tokenrack-acme"] for line in table)

    fetched = run(
        python,
        "-c",
        textwrap.dedent("""
        from tokenrack import Registry
        from tokenrack.testing import EmulatorClient, TokenEmulator

        with TokenEmulator([EmulatorClient("svc", "s3cret")]) as emulator:
            registry = Registry.from_dict({"version": 1, "profiles": {"a": {
                "provider": "acme", "tenant": "emea", "token_url": emulator.token_url,
                "client_id": "svc", "client_secret": "s3cret"}}})
            token = registry.get_token("a")
            sent = emulator.requests[0]
            assert token.access_token in emulator.issued_tokens
            print(sent.auth_method, sent.form_value("tenant"))
    """),
    )
    assert fetched.split() == ["client_secret_post", "emea"]

    # The example's own tests pass in that environment too.
    out = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=example)
    assert "passed" in out and "failed" not in out
