"""secret/resolve: a profile's secrets resolved through their sources, kept, forgotten.

The unit tests need no registry; the last ones prove that ``Registry.from_file`` and
``from_dict`` read ``${VAR}`` in an inline secret from the ``environ`` they were given.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.conftest import CLIENT_ID, SECRET, TOKEN_MARK
from tokenrack.core.registry import Registry
from tokenrack.errors import PluginError, SecretError
from tokenrack.secret.resolve import SecretResolver
from tokenrack.secret.sources import SecretSource
from tokenrack.secret.value import Secret, SecretRef
from tokenrack.testing import TokenEmulator


class CountingSource:
    """A secret source that answers from a dict and counts its reads."""

    name: ClassVar[str] = "vault"
    argument_schema: ClassVar[dict[str, Any]] = {"type": "string"}

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.reads = 0

    def resolve(self, argument: Any) -> str:
        self.reads += 1
        if argument not in self.values:
            raise SecretError(f"no secret at {argument}")
        return self.values[argument]


def lookup(source: CountingSource) -> Callable[[str], SecretSource]:
    def find(name: str) -> SecretSource:
        if name != source.name:
            raise PluginError(f"no secret source named {name!r}", group="g", name=name)
        return source

    return find


def resolver(values: dict[str, Any], source: CountingSource) -> SecretResolver:
    return SecretResolver(profile="p", source="f.yaml", values=values, sources=lookup(source))


def test_literals_are_served_as_they_are_and_references_through_their_source() -> None:
    source = CountingSource({"kv/a": "from-vault"})
    secrets = resolver(
        {"client_secret": Secret("inline"), "private_key": SecretRef("vault", "kv/a")}, source
    ).secrets()
    assert secrets == {"client_secret": Secret("inline"), "private_key": Secret("from-vault")}


def test_secrets_are_read_once_and_again_after_forget() -> None:
    source = CountingSource({"kv/a": "one"})
    secrets = resolver({"client_secret": SecretRef("vault", "kv/a")}, source)
    assert secrets.secrets()["client_secret"].reveal() == "one"
    secrets.secrets()
    assert source.reads == 1
    source.values["kv/a"] = "two"  # rotated
    secrets.forget()
    assert secrets.secrets()["client_secret"].reveal() == "two"
    assert source.reads == 2


def test_a_source_failure_names_the_file_profile_and_key() -> None:
    secrets = resolver({"client_secret": SecretRef("vault", "kv/missing")}, CountingSource({}))
    with pytest.raises(SecretError) as caught:
        secrets.secrets()
    assert caught.value.file == "f.yaml"
    assert caught.value.profile == "p"
    assert caught.value.path == "profiles.p.client_secret"
    assert "no secret at kv/missing" in str(caught.value)


def test_an_unknown_source_is_a_secret_error_saying_it_is_unavailable() -> None:
    secrets = resolver({"client_secret": SecretRef("nope", "x")}, CountingSource({}))
    with pytest.raises(SecretError, match="secret source 'nope' is unavailable"):
        secrets.secrets()


def test_resolve_places_a_nested_key_and_is_not_kept() -> None:
    source = CountingSource({"kv/k": "key"})
    secrets = resolver({}, source)
    assert secrets.resolve("cache.encryption_key", SecretRef("vault", "kv/k")).reveal() == "key"
    secrets.resolve("cache.encryption_key", SecretRef("vault", "kv/k"))
    assert source.reads == 2
    with pytest.raises(SecretError) as caught:
        secrets.resolve("cache.password", SecretRef("vault", "kv/none"))
    assert caught.value.path == "profiles.p.cache.password"


def test_repr_names_keys_never_values() -> None:
    secrets = resolver({"client_secret": Secret("CANARYSECRET")}, CountingSource({}))
    secrets.secrets()
    assert "client_secret" in repr(secrets)
    assert "CANARYSECRET" not in repr(secrets)


# -- the registry passes its environ down (review §1.2: measured bug) ----------------------


def _config(token_url: str) -> str:
    return (
        "version: 1\n"
        "profiles:\n"
        "  a:\n"
        "    provider: generic\n"
        f"    token_url: {token_url}\n"
        f"    client_id: {CLIENT_ID}\n"
        "    client_secret: ${A1_ONLY_IN_MAPPING}\n"
    )


def test_from_file_reads_an_inline_secret_template_from_its_environ(
    emulator: TokenEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("A1_ONLY_IN_MAPPING", raising=False)
    path = tmp_path / "tokenrack.yaml"
    path.write_text(_config("${URL}"))
    path.chmod(0o600)
    environ = {"URL": emulator.token_url, "A1_ONLY_IN_MAPPING": SECRET}
    with Registry.from_file(path, environ=environ) as registry:
        token = registry.get_token("a")
    assert token.access_token.startswith(TOKEN_MARK)
    assert token.access_token in emulator.issued_tokens


def test_from_dict_takes_an_environ_too(
    emulator: TokenEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    monkeypatch.delenv("A1_ONLY_IN_MAPPING", raising=False)
    data = yaml.safe_load(_config(emulator.token_url))
    with Registry.from_dict(data, environ={"A1_ONLY_IN_MAPPING": SECRET}) as registry:
        assert registry.get_token("a").access_token in emulator.issued_tokens


def test_without_environ_the_process_environment_is_read(
    emulator: TokenEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    monkeypatch.setenv("A1_ONLY_IN_MAPPING", SECRET)
    with Registry.from_dict(yaml.safe_load(_config(emulator.token_url))) as registry:
        assert registry.get_token("a").access_token in emulator.issued_tokens


def test_a_variable_missing_from_the_given_environ_is_a_secret_error(
    emulator: TokenEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    monkeypatch.setenv("A1_ONLY_IN_MAPPING", SECRET)  # present in os.environ, not the mapping
    data = yaml.safe_load(_config(emulator.token_url))
    with (
        Registry.from_dict(data, environ={}) as registry,
        pytest.raises(SecretError, match="A1_ONLY_IN_MAPPING is not set"),
    ):
        registry.get_token("a")
    assert emulator.request_count == 0
