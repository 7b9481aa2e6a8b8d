"""A missing provider: "did you mean", and an install hint only where installing helps (F19)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tokenrack.core import catalog as catalog_module
from tokenrack.core.catalog import PROVIDERS, VENDOR_PACK_PROVIDERS, PluginCatalog
from tokenrack.errors import ProviderNotFoundError

ROOT = Path(__file__).resolve().parents[2]


def test_the_vendor_pack_list_is_the_packs_entry_points() -> None:
    pyproject = tomllib.loads((ROOT / "providers" / "pyproject.toml").read_text())
    assert set(pyproject["project"]["entry-points"][PROVIDERS]) == VENDOR_PACK_PROVIDERS


def _pack_installed() -> bool:
    return {"okta", "azure"} <= set(PluginCatalog().names(PROVIDERS))


@pytest.fixture
def without_pack(monkeypatch: pytest.MonkeyPatch) -> None:
    """The catalog as in an environment where the vendor pack is not installed."""
    real = catalog_module._installed

    def installed(group: str) -> list[catalog_module.InstalledPlugin]:
        return [p for p in real(group) if p.name not in VENDOR_PACK_PROVIDERS]

    monkeypatch.setattr(catalog_module, "_installed", installed)


@pytest.mark.skipif(not _pack_installed(), reason="the vendor pack is not installed here")
def test_with_the_pack_a_typo_gets_did_you_mean_and_no_install_hint() -> None:
    with pytest.raises(ProviderNotFoundError) as caught:
        PluginCatalog().provider("okat")
    error = caught.value
    assert error.suggestion == "okta" and error.hint is None
    assert "pip install" not in str(error)
    assert str(error).startswith("no provider named 'okat' is installed (did you mean 'okta'?)")


@pytest.mark.usefixtures("without_pack")
def test_without_the_pack_a_pack_name_gets_the_vendors_hint() -> None:
    with pytest.raises(ProviderNotFoundError) as caught:
        PluginCatalog().provider("okta")
    assert caught.value.installed == ("generic",)
    assert str(caught.value).endswith(
        "installed providers: generic; 'okta' is in the vendor pack: "
        "pip install 'tokenrack[vendors]'"
    )


@pytest.mark.usefixtures("without_pack")
def test_without_the_pack_a_typo_of_a_pack_name_gets_both() -> None:
    with pytest.raises(ProviderNotFoundError) as caught:
        PluginCatalog().provider("okat")
    assert caught.value.suggestion == "okta"
    assert "'okta' is in the vendor pack: pip install 'tokenrack[vendors]'" in str(caught.value)


@pytest.mark.usefixtures("without_pack")
def test_a_name_nobody_ships_gets_a_plain_hint() -> None:
    with pytest.raises(ProviderNotFoundError) as caught:
        PluginCatalog().provider("acme-internal")
    assert caught.value.suggestion is None
    assert str(caught.value).endswith("; install the plugin package that provides it")
    assert "vendors" not in str(caught.value)
