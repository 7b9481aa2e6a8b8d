"""What each entry-point group requires of the object a plugin points to.

The catalog runs :func:`contract_problem` on every plugin it loads or is given, so a
plugin missing a class attribute, or holding one of the wrong type, is refused at load
with a :class:`~tokenrack.errors.PluginLoadError` naming it, instead of failing later, far
away, with an ``AttributeError`` (a profile's load, or worse its first fetch). The checks
read class attributes only: nothing is instantiated or called.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

__all__ = ["GROUP_KINDS", "contract_problem"]

# (attribute, what it must be, the test). Lists follow the protocols' declarations:
# ClientAuthMethod (auth/methods.py), TokenCacheBackend and TokenCache (cache/backend.py),
# SecretSource (secret/sources.py), Provider (oauth/provider.py).
_Rule = tuple[str, str, Callable[[Any], bool]]


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_mapping(value: Any) -> bool:
    return isinstance(value, Mapping)


def _is_str_set(value: Any) -> bool:
    return isinstance(value, AbstractSet) and all(isinstance(item, str) for item in value)


def _is_str_sequence(value: Any) -> bool:
    return (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and all(isinstance(item, str) for item in value)
    )


def _is_optional_str(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


_METHOD = "a method"

_PROVIDER: tuple[_Rule, ...] = (
    ("options_schema", "a mapping (a JSON Schema)", _is_mapping),
    ("default_auth_method", "a str", _is_str),
    ("supported_auth_methods", "a frozenset of str", _is_str_set),
    ("grant_type", "a str", _is_str),
    ("scope_separator", "a str", _is_str),
    ("secret_options", "a frozenset of str", _is_str_set),
)

_AUTH_METHOD: tuple[_Rule, ...] = (
    ("options_schema", "a mapping (JSON Schema properties)", _is_mapping),
    ("required_options", "a tuple of str", _is_str_sequence),
    ("secret_options", "a frozenset of str", _is_str_set),
    ("requires_extra", "a str or None", _is_optional_str),
    ("requires_client_certificate", "a bool", _is_bool),
    ("authenticate", _METHOD, callable),
)

_CACHE: tuple[_Rule, ...] = (
    ("options_schema", "a mapping (an object schema)", _is_mapping),
    ("secret_options", "a frozenset of str", _is_str_set),
    *(
        (method, _METHOD, callable)
        for method in ("describe", "get", "set", "delete", "try_lock", "entries", "close")
    ),
)

_SECRET_SOURCE: tuple[_Rule, ...] = (
    ("argument_schema", "a mapping (a JSON Schema)", _is_mapping),
    ("resolve", _METHOD, callable),
)

_RULES: Mapping[str, tuple[_Rule, ...]] = {
    "tokenrack.providers": _PROVIDER,
    "tokenrack.auth_methods": _AUTH_METHOD,
    "tokenrack.caches": _CACHE,
    "tokenrack.secrets": _SECRET_SOURCE,
}

GROUP_KINDS: Mapping[str, str] = {
    "tokenrack.providers": "Provider",
    "tokenrack.auth_methods": "AuthMethod",
    "tokenrack.caches": "TokenCache",
    "tokenrack.secrets": "SecretSource",
}
"""The kind of class each group's entry points must point to, as error messages name it."""


def _required_base(group: str) -> type | None:
    # Imported here: the catalog is imported by the CLI before it knows it needs a plugin.
    if group == "tokenrack.providers":
        from tokenrack.oauth.provider import Provider

        return Provider
    return None


def contract_problem(group: str, name: str, plugin: Any) -> str | None:
    """What is wrong with ``plugin`` as the ``name`` plugin of ``group``, or None.

    Args:
        group: The entry-point group (one of ``tokenrack.core.catalog.GROUPS``).
        name: The name profiles use: the entry-point name or the registered one.
        plugin: What the entry point points to (or what was registered).

    Returns:
        A phrase that completes "<group> plugin <name> from <where> …", or None when the
        plugin keeps its group's contract.
    """
    kind = GROUP_KINDS.get(group, "plugin")
    base = _required_base(group)
    if not isinstance(plugin, type) or (base is not None and not issubclass(plugin, base)):
        return f"does not point to a {kind} class"
    if getattr(plugin, "name", None) != name:
        return (
            f"points to {plugin.__qualname__}, whose name is "
            f"{getattr(plugin, 'name', None)!r}, not {name!r}"
        )
    wrong = [
        f"{attribute} ({expected})"
        for attribute, expected, test in _RULES.get(group, ())
        if not hasattr(plugin, attribute) or not test(getattr(plugin, attribute))
    ]
    if wrong:
        hint = " (subclass tokenrack.plugin.AuthMethod for defaults)"
        return (
            f"points to {plugin.__qualname__}, which lacks or mistypes "
            f"{', '.join(wrong)}{hint if group == 'tokenrack.auth_methods' else ''}"
        )
    # An ABC (such as AuthMethod) names what a subclass left unimplemented; instantiating
    # it later would be a bare TypeError.
    abstract = sorted(getattr(plugin, "__abstractmethods__", None) or ())
    if abstract:
        return f"points to {plugin.__qualname__}, which does not implement {', '.join(abstract)}"
    return None
