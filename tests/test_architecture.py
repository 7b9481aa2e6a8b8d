"""The layers of docs/architecture.md are the import contracts, and the contracts have teeth.

Each probe copies the source trees, plants one import that breaks a rule, and runs
import-linter on the copy with the project's own contracts: the contract that guards the
rule must report BROKEN. The untouched copy keeps every contract.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "tokenrack"
PACK = ROOT / "providers" / "src" / "tokenrack_providers"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

CONTRACTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def _contract_named(prefix: str) -> str:
    names = [c["name"] for c in CONTRACTS["contracts"] if c["name"].startswith(prefix)]
    assert len(names) == 1, f"no single contract starts with {prefix!r}: {names}"
    return names[0]


def _lint_copy(tmp_path: Path, probe: tuple[str, str] | None) -> subprocess.CompletedProcess[str]:
    tree = tmp_path / "tree"
    shutil.copytree(SRC, tree / "tokenrack", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(
        PACK, tree / "tokenrack_providers", ignore=shutil.ignore_patterns("__pycache__")
    )
    if probe is not None:
        module, line = probe
        path = tree / (module.replace(".", "/") + ".py")
        if not path.exists():
            path = tree / module.replace(".", "/") / "__init__.py"
        text = path.read_text()
        # After the module docstring and `from __future__`, so the probe is a real import.
        anchor = "from __future__ import annotations\n"
        assert anchor in text, f"{path} has no `from __future__` line to anchor the probe"
        path.write_text(text.replace(anchor, anchor + line + "\n", 1))
    config = tmp_path / "contracts.toml"
    lines = ["[tool.importlinter]"]
    lines += [f"{key} = {_toml(value)}" for key, value in CONTRACTS.items() if key != "contracts"]
    for contract in CONTRACTS["contracts"]:
        lines.append("\n[[tool.importlinter.contracts]]")
        lines += [f"{key} = {_toml(value)}" for key, value in contract.items()]
    config.write_text("\n".join(lines) + "\n")
    # The copy comes first on the path, ahead of the editable install's source tree.
    env = {**os.environ, "PYTHONPATH": str(tree), "COLUMNS": "250"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(config), "--no-cache"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(value)


def _broken(output: str) -> set[str]:
    return {m.group(1).strip() for m in re.finditer(r"^(.+?) ?BROKEN", output, re.M)}


@pytest.mark.slow
def test_the_untouched_tree_keeps_every_contract(tmp_path: Path) -> None:
    done = _lint_copy(tmp_path, None)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _broken(done.stdout) == set()
    assert f"Contracts: {len(CONTRACTS['contracts'])} kept, 0 broken." in done.stdout


PROBES = [
    pytest.param(
        "tokenrack.oauth.discovery",
        "import requests",
        "only tokenrack.http.",
        id="requests-in-oauth",
    ),
    pytest.param(
        "tokenrack_providers.keycloak",
        "from tokenrack.core.shared import SharedRefresh",
        "the vendor pack uses only the plugin API",
        id="vendor-pack-reaches-into-core",
    ),
    pytest.param(
        "tokenrack_providers.keycloak",
        "from tokenrack.oauth.response import decode_body",
        "the vendor pack uses only the plugin API",
        id="vendor-pack-reaches-into-oauth",
    ),
    pytest.param(
        "tokenrack.oauth.flow", "import tokenrack.core.store", "layers", id="oauth-imports-core"
    ),
    pytest.param(
        "tokenrack.secret.value", "import tokenrack.cache.key", "layers", id="secret-imports-cache"
    ),
    pytest.param(
        "tokenrack.cache.key", "import tokenrack.auth.selection", "layers", id="cache-imports-auth"
    ),
    pytest.param(
        "tokenrack.core.runtime", "import yaml", "only tokenrack.config", id="yaml-in-core"
    ),
    pytest.param(
        "tokenrack.oauth.flow", "import stevedore", "only tokenrack.core.catalog", id="stevedore"
    ),
    pytest.param(
        "tokenrack.core.registry", "import redis", "only tokenrack.cache.redis", id="redis-in-core"
    ),
    pytest.param(
        "tokenrack.core.registry",
        "import tokenrack_providers",
        "the core knows no vendor",
        id="core-imports-vendor",
    ),
    pytest.param("tokenrack.core.store", "import pytest", "the library never imports", id="pytest"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("module", "line", "contract"), PROBES)
def test_a_planted_violation_breaks_its_contract(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    done = _lint_copy(tmp_path, (module, line))
    assert done.returncode == 1, done.stdout + done.stderr
    assert _broken(done.stdout) == {_contract_named(contract)}, done.stdout


def test_docs_draw_the_layers_the_contract_enforces() -> None:
    (layers,) = [c["layers"] for c in CONTRACTS["contracts"] if c["type"] == "layers"]
    text = (ROOT / "docs" / "architecture.md").read_text()
    block = re.search(r"<!-- layers -->\n```text\n(.*?)```", text, re.S)
    assert block is not None, "docs/architecture.md lost its layers block"
    assert block.group(1).splitlines() == layers


def test_every_layer_is_a_subpackage_or_public_module_that_exists() -> None:
    (layers,) = [c["layers"] for c in CONTRACTS["contracts"] if c["type"] == "layers"]
    named = {name.strip() for layer in layers for name in re.split(r"[|:]", layer)}
    top_level = {p.stem for p in SRC.iterdir() if p.suffix == ".py" and p.stem != "__init__"}
    top_level |= {p.name for p in SRC.iterdir() if (p / "__init__.py").exists()}
    # Every top-level module and subpackage sits in some layer, so none escapes the contract.
    assert {f"tokenrack.{name}" for name in top_level} <= named
    for name in named:
        relative = name.removeprefix("tokenrack.")
        assert (SRC / f"{relative}.py").exists() or (SRC / relative / "__init__.py").exists(), name


def test_subpackage_init_files_import_nothing() -> None:
    for init in sorted(SRC.glob("*/__init__.py")):
        if init.parent.name == "testing":
            continue  # the public test kit's lazy front, checked in tests/testing
        body = ast.parse(init.read_text()).body
        assert len(body) == 1 and isinstance(body[0], ast.Expr), (
            f"{init} holds more than a docstring"
        )


def test_the_module_map_lists_every_module_of_every_subpackage() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    listed = set(re.findall(r"^- `([a-z_]+/[a-z_]+\.py)`:", text, re.M))
    present = {
        f"{path.parent.name}/{path.name}"
        for path in SRC.glob("*/*.py")
        if path.name != "__init__.py"
    }
    assert listed == present
