"""Validation with jsonschema, and messages a platform engineer can act on.

A value that validated before, unchanged, against the same schema is not validated again
(:mod:`tokenrack.config.validated`): jsonschema is then not even imported.

jsonschema's own messages quote whole instances (secrets included) and speak of
"properties" and "oneOf". Here every error becomes a :class:`ConfigProblem` that names the
JSON path, says what was expected in plain words, shows what was found (never a value under
a secret key), and suggests the closest key for a typo.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tokenrack.config.marks import join_path
from tokenrack.config.validated import record
from tokenrack.errors import ConfigProblem

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

__all__ = ["describe", "join_path", "validate"]


def _plural(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    nouns = {"string": "strings", "integer": "integers", "number": "numbers", "object": "mappings"}
    if isinstance(kind, str) and kind in nouns:
        return nouns[kind]
    return f"items that are each {describe(schema)}"


def _string(schema: Mapping[str, Any]) -> str:
    return "a non-empty string" if schema.get("minLength") else "a string"


def _number(schema: Mapping[str, Any]) -> str:
    noun = "a number" if schema["type"] == "number" else "an integer"
    if "exclusiveMinimum" in schema:
        return f"{noun} greater than {schema['exclusiveMinimum']}"
    if "minimum" in schema and "maximum" in schema:
        return f"{noun} from {schema['minimum']} to {schema['maximum']}"
    if "minimum" in schema:
        return f"{noun} of at least {schema['minimum']}"
    return noun


def _array(schema: Mapping[str, Any]) -> str:
    items = schema.get("items")
    return f"a list of {_plural(items)}" if isinstance(items, Mapping) else "a list"


def _object(schema: Mapping[str, Any]) -> str:
    properties = schema.get("properties") or {}
    if properties and schema.get("additionalProperties") is False:
        return "a mapping with keys " + ", ".join(properties)
    extra = schema.get("additionalProperties")
    if isinstance(extra, Mapping):
        return f"a mapping of names to {_plural(extra)}"
    return "a mapping"


# How each JSON Schema type is said in words, given its schema.
_DESCRIBERS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "string": _string,
    "number": _number,
    "integer": _number,
    "boolean": lambda schema: "true or false",
    "array": _array,
    "object": _object,
}


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
    describer = _DESCRIBERS.get(kind) if isinstance(kind, str) else None
    return describer(schema) if describer is not None else "a valid value"


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


Hide = Callable[[Sequence[str | int]], bool]
"""Says, from a path relative to the validated instance, whether the value there is secret."""


def _branches(
    error: ValidationError, path: str, base: str, hide: Hide
) -> list[ConfigProblem] | None:
    """oneOf/anyOf: "needs one of" for alternative required keys, or the matching branch's."""
    subs = list(error.context or ())
    if subs and all(sub.validator == "required" for sub in subs):
        keys = [str(key) for sub in subs for key in sub.validator_value]  # type: ignore[union-attr]
        return [ConfigProblem(path, f"needs one of {', '.join(keys)}, but has none")]
    branch = _branch_errors(error)
    if branch is None:
        return None
    return [p for sub in branch for p in _problems(sub, base, hide)]


def _unknown_keys(
    error: ValidationError, path: str, base: str, hide: Hide
) -> list[ConfigProblem] | None:
    """additionalProperties: each unknown key, with the closest allowed one."""
    import difflib  # for a suggestion only

    if not isinstance(error.instance, Mapping):
        return None
    schema = error.schema if isinstance(error.schema, Mapping) else {}
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


def _missing(
    error: ValidationError, path: str, base: str, hide: Hide
) -> list[ConfigProblem] | None:
    """required: each missing key at its own path."""
    if not isinstance(error.instance, Mapping):
        return None
    return [
        ConfigProblem(join_path(path, [key]), "required, but missing")
        for key in list(error.validator_value)  # type: ignore[arg-type]
        if key not in error.instance
    ]


def _key_count(
    error: ValidationError, path: str, base: str, hide: Hide
) -> list[ConfigProblem] | None:
    """minProperties/maxProperties: what was expected and how many keys there are."""
    if not isinstance(error.instance, Mapping):
        return None
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    return [ConfigProblem(path, f"expected {describe(schema)}, got {len(error.instance)} keys")]


def _too_few_items(
    error: ValidationError, path: str, base: str, hide: Hide
) -> list[ConfigProblem] | None:
    """For minItems: how many items were needed."""
    return [ConfigProblem(path, f"expected at least {error.validator_value} item(s)")]


def _refused(
    error: ValidationError, path: str, base: str, hide: Hide
) -> list[ConfigProblem] | None:
    """For not: the schema's description says what is refused (a key another one excludes)."""
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    description = schema.get("description")
    return [ConfigProblem(path, str(description))] if description else None


# The validators whose errors read better said their own way; a handler may answer None
# to fall back to "expected …, got …".
_HANDLERS: dict[str, Callable[[ValidationError, str, str, Hide], list[ConfigProblem] | None]] = {
    "oneOf": _branches,
    "anyOf": _branches,
    "additionalProperties": _unknown_keys,
    "required": _missing,
    "minProperties": _key_count,
    "maxProperties": _key_count,
    "minItems": _too_few_items,
    "not": _refused,
}


def _problems(error: ValidationError, base: str, hide: Hide) -> list[ConfigProblem]:
    parts = list(error.absolute_path)
    path = join_path(base, parts)
    handler = _HANDLERS.get(str(error.validator))
    problems = handler(error, path, base, hide) if handler is not None else None
    if problems is not None:
        return problems
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    shown = _show(error.instance, hidden=hide(parts))
    hint = _quote_hint(error, schema)
    return [ConfigProblem(path, f"expected {describe(schema)}, got {shown}{hint}")]


def _wants_string(schema: Mapping[str, Any]) -> bool:
    if schema.get("type") == "string":
        return True
    branches = schema.get("oneOf") or schema.get("anyOf") or ()
    return any(isinstance(b, Mapping) and _wants_string(b) for b in branches)


def _quote_hint(error: ValidationError, schema: Mapping[str, Any]) -> str:
    """For a number where a string is needed: YAML read it as a number; quote it."""
    value = error.instance
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not _wants_string(schema):
        return ""
    # Said without the number: it may be a secret, and 0123 was read as 83 anyway.
    return "; YAML reads an unquoted number as a number (0123 as octal 83): put it in quotes"


def validate(
    instance: Any,
    schema: Mapping[str, Any],
    *,
    base: str,
    hide: Hide = lambda parts: False,
) -> list[ConfigProblem]:
    """Every problem with ``instance`` against ``schema``, as paths under ``base``.

    Args:
        instance: The value to check.
        schema: A draft 2020-12 schema.
        base: The JSON path of ``instance`` (e.g. ``profiles.billing``).
        hide: Says, from a path relative to ``instance``, whether the value there is a
            secret that must not be shown.
    """
    remembered = record()
    digest = remembered.digest(instance, schema, base) if remembered is not None else None
    if digest is not None and remembered is not None and digest in remembered:
        return []
    # Imported here: an unchanged config never needs it (the validation record).
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema)
    problems: list[ConfigProblem] = []
    for error in validator.iter_errors(instance):
        for problem in _problems(error, base, hide):
            if problem not in problems:
                problems.append(problem)
    if not problems and digest is not None and remembered is not None:
        remembered.add(digest)
    return sorted(problems, key=lambda p: p.path)
