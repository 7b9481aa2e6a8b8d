"""The public surface: each __all__ is exactly what docs/architecture.md and docs/plugins.md
promise, every name is documented, and import is cheap."""

from __future__ import annotations

import ast
import importlib
import inspect
import itertools
import subprocess
import sys
from pathlib import Path

import tokenrack
import tokenrack.plugin
from tests.conftest import without_coverage

PROMISED = {
    "get_token",
    "aget_token",
    "configure",
    "default_registry",
    "Registry",
    "BearerAuth",
    "Token",
    "TokenrackError",
    "CacheError",
    "ConfigError",
    "ProfileNotFoundError",
    "SecretError",
    "PluginError",
    "ProviderNotFoundError",
    "PluginLoadError",
    "TokenError",
    "TokenRequestError",
    "InvalidClientError",
    "InvalidScopeError",
    "UnauthorizedClientError",
    "InvalidGrantError",
    "InvalidRequestError",
    "UnsupportedGrantTypeError",
    "TokenEndpointUnavailableError",
    "TokenResponseError",
    "__version__",
}


# The stable plugin API (docs/plugins.md). Adding a name is a promise; removing one breaks
# third-party plugins: either is a deliberate change to this set.
PLUGIN_API = {
    # providers
    "Provider",
    "TokenFlow",
    "TokenRequest",
    "FormValue",
    "HttpResponse",
    "Token",
    "ResponseFields",
    "decode_body",
    "jwt_claims",
    "parse_token_response",
    "raise_for_error",
    "error_class_for",
    # auth methods
    "AuthMethod",
    "ClientAuthMethod",
    "ClientCredentials",
    "rfc6749_encode",
    # cache backends
    "TokenCache",
    "CacheLock",
    "CacheError",
    # secret sources
    "SecretSource",
    "Secret",
    "SecretError",
    # signing
    "JWT_EXTRA",
    "KeyMaterialError",
    "SigningKey",
    "jwt_available",
    "load_private_key",
    "sign_jwt",
    # errors a plugin raises
    "ConfigError",
    "TokenError",
    "TokenRequestError",
    "TokenResponseError",
    "TokenEndpointUnavailableError",
    "InvalidClientError",
    "InvalidGrantError",
    "InvalidRequestError",
    "InvalidScopeError",
    "UnauthorizedClientError",
    "UnsupportedGrantTypeError",
}


def test_all_is_exactly_the_promised_api() -> None:
    assert set(tokenrack.__all__) == PROMISED


def test_plugin_all_is_exactly_the_stable_plugin_api() -> None:
    assert sorted(tokenrack.plugin.__all__) == sorted(PLUGIN_API)
    assert len(tokenrack.plugin.__all__) == len(set(tokenrack.plugin.__all__))


def _attribute_docstring(module_name: str, name: str) -> str | None:
    """The string literal right after ``name = …`` at the top of a module, if any."""
    module = importlib.import_module(module_name)
    tree = ast.parse(Path(inspect.getfile(module)).read_text())
    for statement, following in itertools.pairwise(tree.body):
        targets = (
            statement.targets
            if isinstance(statement, ast.Assign)
            else [statement.target]
            if isinstance(statement, ast.AnnAssign)
            else []
        )
        named = any(isinstance(t, ast.Name) and t.id == name for t in targets)
        if named and isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant):
            return str(following.value.value)
    return None


def _origins(module_name: str) -> dict[str, str]:
    """Where each name ``from x import name`` in a module comes from."""
    module = importlib.import_module(module_name)
    tree = ast.parse(Path(inspect.getfile(module)).read_text())
    return {
        alias.name: node.module
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }


def _own_docstring(value: object) -> str | None:
    # A class's own docstring, not one inherited from object or a builtin base.
    if inspect.isclass(value):
        return value.__dict__.get("__doc__")
    return getattr(value, "__doc__", None)


def test_every_public_name_resolves_and_is_documented() -> None:
    for name in tokenrack.__all__:
        value = getattr(tokenrack, name)
        if name != "__version__":
            assert value.__doc__, name
    origins = _origins("tokenrack.plugin")
    undocumented = []
    for name in tokenrack.plugin.__all__:
        value = getattr(tokenrack.plugin, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            documented = _own_docstring(value)
        else:  # a constant or a type alias: documented where it is defined
            documented = _attribute_docstring(origins[name], name)
        if not (documented and documented.strip()):
            undocumented.append(name)
    assert undocumented == []


def test_attribute_docstring_finder_sees_a_missing_one() -> None:
    # The check above must be able to fail: a module constant without a docstring.
    assert _attribute_docstring("tokenrack.auth.signing", "HMAC_ALGORITHMS") is None
    assert _attribute_docstring("tokenrack.oauth.message", "FormValue")


def test_unknown_attribute_is_an_attribute_error() -> None:
    try:
        tokenrack.nope  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as error:
        assert "nope" in str(error)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")


def test_import_tokenrack_imports_no_heavy_or_optional_dependency() -> None:
    code = (
        "import sys, tokenrack\n"
        "heavy = ['requests', 'yaml', 'jsonschema', 'stevedore', 'urllib3', 'redis', 'jwt', "
        "'cryptography', 'tokenrack.config', 'tokenrack.core.catalog', 'logging', 'typing', "
        "'dataclasses']\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=without_coverage(),
    )
    assert done.stdout.strip() == ""


def test_registry_import_is_still_light() -> None:
    code = "import sys; from tokenrack import Registry, BearerAuth; print('requests' in sys.modules, 'yaml' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=without_coverage(),
    )
    assert done.stdout.split() == ["False", "False"]


def test_tokenrack_logger_has_a_null_handler_before_anything_logs() -> None:
    code = (
        "import logging, tokenrack\n"
        "assert not logging.getLogger('tokenrack').handlers  # import tokenrack logs nothing\n"
        "from tokenrack.core.registry import Registry\n"
        "print(any(isinstance(h, logging.NullHandler) for h in logging.getLogger('tokenrack').handlers))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=without_coverage(),
    )
    assert done.stdout.strip() == "True"


def test_import_tokenrack_is_almost_free() -> None:
    code = (
        "import sys, tokenrack; print(sorted(m for m in sys.modules if m.startswith('tokenrack')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=without_coverage(),
    )
    assert done.stdout.strip() == "['tokenrack']"
