"""Validation with jsonschema, and messages a platform engineer can act on.

jsonschema's own messages quote whole instances (secrets included) and speak of
"properties" and "oneOf". Here every error becomes a :class:`ConfigProblem` that names the
JSON path, says what was expected in plain words, shows what was found (never a value under
a secret key), and suggests the closest key for a typo.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from tokenrack.errors import ConfigProblem

__all__ = ["check", "describe", "join_path", "validate"]


def join_path(base: str, parts: Iterable[str | int]) -> str:
    """``profiles.billing`` + ``["scopes", 0]`` → ``profiles.billing.scopes[0]``."""
    path = base
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else str(part)
    return path


def _plural(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    nouns = {"string": "strings", "integer": "integers", "number": "numbers", "object": "mappings"}
    if isinstance(kind, str) and kind in nouns:
        return nouns[kind]
    return f"items that are each {describe(schema)}"


def describe(schema: Mapping[str, Any]) -> str:
    """Say in words what a schema accepts (``a list of strings``, ``one of 'a', 'b'``)."""
    if "description" in schema:
        return str(schema["description"])
    if "const" in schema:
        return repr(schema["const"])
    if "enum" in schema:
        return "one of " + ", ".join(repr(v) for v in schema["enum"])
    for combinator in ("oneOf", "anyOf"):
        if combinator in schema:
            return " or ".join(describe(branch) for branch in schema[combinator])
    kind = schema.get("type")
    if kind == "string":
        return "a non-empty string" if schema.get("minLength") else "a string"
    if kind in ("number", "integer"):
        noun = "a number" if kind == "number" else "an integer"
        if "exclusiveMinimum" in schema:
            return f"{noun} greater than {schema['exclusiveMinimum']}"
        if "minimum" in schema and "maximum" in schema:
            return f"{noun} from {schema['minimum']} to {schema['maximum']}"
        if "minimum" in schema:
            return f"{noun} of at least {schema['minimum']}"
        return noun
    if kind == "boolean":
        return "true or false"
    if kind == "array":
        items = schema.get("items")
        return f"a list of {_plural(items)}" if isinstance(items, Mapping) else "a list"
    if kind == "object":
        properties = schema.get("properties") or {}
        if properties and schema.get("additionalProperties") is False:
            return "a mapping with keys " + ", ".join(properties)
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping):
            return f"a mapping of names to {_plural(extra)}"
        return "a mapping"
    return "a valid value"


def _show(value: Any, *, hidden: bool) -> str:
    kinds = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
        type(None): "nothing (null)",
    }
    kind = kinds.get(type(value), type(value).__name__)
    if hidden:
        return f"{kind} (value hidden: this key holds a secret)"
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return kind
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _branch_errors(error: ValidationError) -> list[ValidationError] | None:
    """For a failed oneOf/anyOf, the errors of the one branch whose type matched, if one did."""
    by_branch: dict[int, list[ValidationError]] = {}
    for sub in error.context or ():
        branch = sub.relative_schema_path[0]
        if isinstance(branch, int):
            by_branch.setdefault(branch, []).append(sub)
    typed = [
        errors
        for errors in by_branch.values()
        if not any(e.validator == "type" and not e.relative_path for e in errors)
    ]
    return typed[0] if len(typed) == 1 else None


def _problems(
    error: ValidationError, base: str, hide: Callable[[Sequence[str | int]], bool]
) -> list[ConfigProblem]:
    parts = list(error.absolute_path)
    path = join_path(base, parts)
    hidden = hide(parts)
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    if error.validator in ("oneOf", "anyOf"):
        subs = list(error.context or ())
        if subs and all(sub.validator == "required" for sub in subs):
            keys = [str(key) for sub in subs for key in sub.validator_value]  # type: ignore[union-attr]
            return [ConfigProblem(path, f"needs one of {', '.join(keys)}, but has none")]
        branch = _branch_errors(error)
        if branch is not None:
            return [p for sub in branch for p in _problems(sub, base, hide)]
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = list(schema.get("properties") or {})
        problems = []
        for key in error.instance:
            if key in allowed:
                continue
            close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            hint = (
                f" (did you mean {close[0]!r}?)"
                if close
                else f" (allowed here: {', '.join(sorted(allowed))})"
            )
            problems.append(ConfigProblem(join_path(path, [str(key)]), f"unknown key{hint}"))
        return problems
    if error.validator == "required" and isinstance(error.instance, Mapping):
        return [
            ConfigProblem(join_path(path, [key]), "required, but missing")
            for key in list(error.validator_value)  # type: ignore[arg-type]
            if key not in error.instance
        ]
    if error.validator in ("minProperties", "maxProperties") and isinstance(
        error.instance, Mapping
    ):
        return [ConfigProblem(path, f"expected {describe(schema)}, got {len(error.instance)} keys")]
    if error.validator == "minItems":
        return [ConfigProblem(path, f"expected at least {error.validator_value} item(s)")]
    shown = _show(error.instance, hidden=hidden)
    return [ConfigProblem(path, f"expected {describe(schema)}, got {shown}")]


def validate(
    instance: Any,
    schema: Mapping[str, Any],
    *,
    base: str,
    hide: Callable[[Sequence[str | int]], bool] = lambda parts: False,
) -> list[ConfigProblem]:
    """Every problem with ``instance`` against ``schema``, as paths under ``base``.

    Args:
        instance: The value to check.
        schema: A draft 2020-12 schema.
        base: The JSON path of ``instance`` (e.g. ``profiles.billing``).
        hide: Says, from a path relative to ``instance``, whether the value there is a
            secret that must not be shown.
    """
    validator = Draft202012Validator(schema)
    problems: list[ConfigProblem] = []
    for error in validator.iter_errors(instance):
        for problem in _problems(error, base, hide):
            if problem not in problems:
                problems.append(problem)
    return sorted(problems, key=lambda p: p.path)


def check(schema: Mapping[str, Any]) -> None:
    """Raise ``jsonschema.SchemaError`` when ``schema`` is not a valid draft 2020-12 schema."""
    Draft202012Validator.check_schema(schema)


def hider(secret_keys: Collection[str]) -> Callable[[Sequence[str | int]], bool]:
    """A ``hide`` function for a profile: values under its secret keys are hidden."""
    return lambda parts: bool(parts) and parts[0] in secret_keys
