"""What each entry-point group requires of a plugin (src/tokenrack/core/plugin_contract.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tokenrack.auth.methods import ClientSecretBasic
from tokenrack.cache.memory import MemoryCache
from tokenrack.core.catalog import AUTH_METHODS, CACHES, GROUPS, PROVIDERS, SECRETS
from tokenrack.core.plugin_contract import GROUP_KINDS, contract_problem
from tokenrack.oauth.generic import GenericProvider
from tokenrack.plugin import AuthMethod, Provider
from tokenrack.secret.sources import EnvSecretSource

BUILT_INS: dict[str, tuple[str, type]] = {
    PROVIDERS: ("generic", GenericProvider),
    AUTH_METHODS: ("client_secret_basic", ClientSecretBasic),
    CACHES: ("memory", MemoryCache),
    SECRETS: ("env", EnvSecretSource),
}


def test_every_group_has_a_kind_and_a_built_in_that_keeps_the_contract() -> None:
    assert set(GROUP_KINDS) == set(GROUPS) == set(BUILT_INS)
    for group, (name, plugin) in BUILT_INS.items():
        assert contract_problem(group, name, plugin) is None, group


@pytest.mark.parametrize("group", GROUPS)
def test_not_a_class_is_refused(group: str) -> None:
    assert contract_problem(group, "x", 42) == f"does not point to a {GROUP_KINDS[group]} class"


def test_a_provider_must_subclass_provider() -> None:
    class Lookalike:
        name = "lookalike"

    assert contract_problem(PROVIDERS, "lookalike", Lookalike) == (
        "does not point to a Provider class"
    )


@pytest.mark.parametrize("group", GROUPS)
def test_the_name_must_equal_the_entry_point_name(group: str) -> None:
    name, plugin = BUILT_INS[group]
    problem = contract_problem(group, name + "2", plugin)
    assert problem == (
        f"points to {plugin.__qualname__}, whose name is {name!r}, not {name + '2'!r}"
    )


def _without(base: type, attribute: str) -> type:
    """A copy of ``base`` (a plain class, not a subclass) with ``attribute`` missing."""
    namespace: dict[str, Any] = {}
    for klass in reversed(base.__mro__[:-1]):
        namespace.update(
            {k: v for k, v in vars(klass).items() if not k.startswith("__") or k == "__init__"}
        )
    namespace.pop(attribute)
    namespace.pop("__abstractmethods__", None)
    namespace.pop("_abc_impl", None)
    return type(base.__name__, (), namespace)


@pytest.mark.parametrize(
    ("group", "attribute", "expected"),
    [
        (AUTH_METHODS, "options_schema", "a mapping (JSON Schema properties)"),
        (AUTH_METHODS, "required_options", "a tuple of str"),
        (AUTH_METHODS, "secret_options", "a frozenset of str"),
        (AUTH_METHODS, "requires_extra", "a str or None"),
        (AUTH_METHODS, "requires_client_certificate", "a bool"),
        (AUTH_METHODS, "authenticate", "a method"),
        (CACHES, "options_schema", "a mapping (an object schema)"),
        (CACHES, "secret_options", "a frozenset of str"),
        (CACHES, "describe", "a method"),
        (CACHES, "get", "a method"),
        (CACHES, "set", "a method"),
        (CACHES, "delete", "a method"),
        (CACHES, "try_lock", "a method"),
        (CACHES, "entries", "a method"),
        (CACHES, "close", "a method"),
        (SECRETS, "argument_schema", "a mapping (a JSON Schema)"),
        (SECRETS, "resolve", "a method"),
    ],
)
def test_a_missing_attribute_is_named(group: str, attribute: str, expected: str) -> None:
    name, plugin = BUILT_INS[group]
    problem = contract_problem(group, name, _without(plugin, attribute))
    assert problem is not None
    assert f"lacks or mistypes {attribute} ({expected})" in problem


@pytest.mark.parametrize(
    ("attribute", "value", "expected"),
    [
        ("required_options", "client_id", "a tuple of str"),  # a str is not a sequence of keys
        ("required_options", ("client_id", 3), "a tuple of str"),
        ("secret_options", ["k"], "a frozenset of str"),
        ("requires_extra", 1, "a str or None"),
        ("requires_client_certificate", "yes", "a bool"),
        ("options_schema", None, "a mapping"),
    ],
)
def test_a_mistyped_auth_method_attribute_is_named(
    attribute: str, value: object, expected: str
) -> None:
    mistyped = type("Mistyped", (ClientSecretBasic,), {attribute: value})
    problem = contract_problem(AUTH_METHODS, "client_secret_basic", mistyped)
    assert problem is not None and f"{attribute} ({expected}" in problem
    assert problem.endswith("(subclass tokenrack.plugin.AuthMethod for defaults)")


def test_several_problems_are_named_together() -> None:
    class Bare:
        name = "bare"

        def authenticate(self, request: Any, client: Any) -> Any:
            return request

    problem = contract_problem(AUTH_METHODS, "bare", Bare)
    assert problem is not None
    for attribute in ("options_schema", "required_options", "secret_options", "requires_extra"):
        assert attribute in problem


def test_an_auth_method_subclass_needs_only_a_name_and_authenticate() -> None:
    class Minimal(AuthMethod):
        name = "minimal"

        def authenticate(self, request: Any, client: Any) -> Any:
            return request

    assert contract_problem(AUTH_METHODS, "minimal", Minimal) is None


def test_an_unimplemented_abstract_method_is_named() -> None:
    class Unfinished(AuthMethod):
        name = "unfinished"

    assert contract_problem(AUTH_METHODS, "unfinished", Unfinished) == (
        "points to test_an_unimplemented_abstract_method_is_named.<locals>.Unfinished, "
        "which does not implement authenticate"
    )


def test_a_provider_with_a_mistyped_class_attribute_is_named() -> None:
    class Odd(Provider):
        name = "odd"
        supported_auth_methods = frozenset({1})  # type: ignore[arg-type]

    problem = contract_problem(PROVIDERS, "odd", Odd)
    assert problem is not None and "supported_auth_methods (a frozenset of str)" in problem
    assert "AuthMethod" not in problem  # the hint is for auth methods only
