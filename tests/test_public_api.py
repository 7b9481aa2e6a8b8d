"""The public surface: __all__ is exactly what DESIGN.md promises, and import is cheap."""

from __future__ import annotations

import subprocess
import sys

import tokenrack
import tokenrack.plugin

PROMISED = {
    "get_token",
    "aget_token",
    "configure",
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


def test_all_is_exactly_the_promised_api() -> None:
    assert set(tokenrack.__all__) == PROMISED


def test_every_public_name_resolves_and_is_documented() -> None:
    for name in tokenrack.__all__:
        value = getattr(tokenrack, name)
        if name != "__version__":
            assert value.__doc__, name
    for name in tokenrack.plugin.__all__:
        assert getattr(tokenrack.plugin, name) is not None


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
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_registry_import_is_still_light() -> None:
    code = "import sys; from tokenrack import Registry, BearerAuth; print('requests' in sys.modules, 'yaml' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]


def test_tokenrack_logger_has_a_null_handler_before_anything_logs() -> None:
    code = (
        "import logging, tokenrack\n"
        "assert not logging.getLogger('tokenrack').handlers  # import tokenrack logs nothing\n"
        "from tokenrack.core.registry import Registry\n"
        "print(any(isinstance(h, logging.NullHandler) for h in logging.getLogger('tokenrack').handlers))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "True"


def test_import_tokenrack_is_almost_free() -> None:
    code = (
        "import sys, tokenrack; print(sorted(m for m in sys.modules if m.startswith('tokenrack')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['tokenrack']"
