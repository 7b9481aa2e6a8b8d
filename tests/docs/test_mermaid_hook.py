"""The site loads its own Mermaid before material's bundle, on pages with a diagram only."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

HOOK = Path(__file__).resolve().parents[2] / "docs" / "_hooks" / "mermaid.py"
PAGE = (
    '<div class="mermaid">flowchart TD</div>\n'
    '<script src="../assets/javascripts/bundle.abc123.min.js"></script>\n'
)


def load_hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mermaid_hook", HOOK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def site_root(tmp_path: Path) -> Any:
    (tmp_path / "mkdocs.yml").write_text("site_name: t\n")
    return SimpleNamespace(config_file_path=str(tmp_path / "mkdocs.yml"))


def fetch(config: Any, version: str) -> None:
    root = Path(config.config_file_path).parent
    target = root / ".venv" / "share" / "mermaid" / version / "mermaid.min.js"
    target.parent.mkdir(parents=True)
    target.write_text("window.mermaid = {};")


def test_a_page_with_a_diagram_loads_the_local_copy_before_the_bundle(site_root: Any) -> None:
    hook = load_hook()
    fetch(site_root, "11.12.0")
    output = hook.on_post_page(PAGE, config=site_root)
    local = '<script src="../assets/vendor/mermaid.min.js"></script>'
    assert local in output
    assert output.index(local) < output.index("assets/javascripts/bundle.")


def test_a_page_without_a_diagram_is_left_alone(site_root: Any) -> None:
    hook = load_hook()
    fetch(site_root, "11.12.0")
    page = PAGE.replace('class="mermaid"', 'class="highlight"')
    assert hook.on_post_page(page, config=site_root) == page


def test_without_the_fetched_file_material_loads_it_as_usual(site_root: Any) -> None:
    hook = load_hook()
    assert hook.local_mermaid(site_root) is None
    assert hook.on_post_page(PAGE, config=site_root) == PAGE
