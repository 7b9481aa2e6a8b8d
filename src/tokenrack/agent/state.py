"""The agent's config and registries: loaded at start, reloaded on SIGHUP, tokens kept.

A reload builds a new :class:`~tokenrack.core.registry.Registry` from the file, but each
profile whose assembled config did not change stays on the registry that already holds its
token (and its single-flight, refresh windows and stats), so a reload costs no token request
for it. A registry no profile uses any more is closed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from tokenrack.agent.settings import AgentSettings, parse_agent_settings
from tokenrack.config.assemble import Config, load_config
from tokenrack.config.discover import discover_config_path
from tokenrack.config.document import read_config_document
from tokenrack.config.exposure import refuse_untrusted_commands, warn_if_exposed
from tokenrack.config.template import TEMPLATE, TemplateSecretSource
from tokenrack.core.catalog import PluginCatalog
from tokenrack.core.registry import Registry
from tokenrack.errors import SecretError, TokenrackError, without_frames
from tokenrack.secret.sources import SecretContext
from tokenrack.secret.value import Secret, SecretValue
from tokenrack.util.environ import private_environ

__all__ = ["AgentState", "Loaded", "load", "resolve_agent_secret"]

# Seconds a registry no profile uses any more stays open (a fetch may be in flight in it).
_RETIRED_GRACE = 60.0

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Loaded:
    """One reading of the config file.

    Attributes:
        config: The profiles, assembled and validated.
        settings: The ``agent`` section.
        catalog: The plugins the profiles were checked against.
        tcp_token: The bearer TCP callers present, read at load (None: not set).
        azure_header: The Azure header secret, read at load (None: no Azure endpoint).
    """

    config: Config
    settings: AgentSettings
    catalog: PluginCatalog
    tcp_token: Secret | None
    azure_header: Secret | None


def load(path: str | None) -> Loaded:
    """Read and validate the config file (discovered when ``path`` is None), once.

    Raises:
        ConfigError: The file, its profiles or its ``agent`` section are invalid.
        SecretError: The agent's bearer or header secret cannot be read.
    """
    try:
        return _load(path)
    except TokenrackError as error:
        # The loader's frames hold the document, inline secrets included: not kept.
        failure = without_frames(error)
    raise failure


def _load(path: str | None) -> Loaded:
    catalog = PluginCatalog()
    document = read_config_document(path if path is not None else discover_config_path())
    source, data = document.source, document.data
    environ = private_environ(os.environ)
    config = load_config(
        data, source=source, plugins=catalog, environ=environ, marks=document.marks
    )
    # Relative secret, key, ca_bundle and cache paths are the file's, as for Registry.from_file.
    config = replace(config, directory=os.path.dirname(os.path.abspath(source)))
    refuse_untrusted_commands(source, config)
    warn_if_exposed(source, config)
    settings = parse_agent_settings(
        data.get("agent"), source=source, profiles=frozenset(config.profiles), marks=config.marks
    )
    tcp_token = azure_header = None
    if settings.tcp_token is not None:
        tcp_token = resolve_agent_secret(settings.tcp_token, "tcp_token", config, catalog)
    if settings.azure_header_secret is not None:
        azure_header = resolve_agent_secret(
            settings.azure_header_secret, "azure.header_secret", config, catalog
        )
    return Loaded(config, settings, catalog, tcp_token, azure_header)


def resolve_agent_secret(
    value: SecretValue, key: str, config: Config, catalog: PluginCatalog
) -> Secret:
    """One of the ``agent`` section's secrets, read through its source.

    Args:
        value: The secret as written (a literal or a reference).
        key: Its path under ``agent``, for messages (``tcp_token``, ``azure.header_secret``).
        config: The loaded config (its environment and directory).
        catalog: Where secret sources are found.

    Raises:
        SecretError: It cannot be read, or is empty; names the file and the key.
    """
    if isinstance(value, Secret):
        return value
    try:
        if value.source == TEMPLATE:
            found = Secret(TemplateSecretSource(config.environ).resolve(value.argument))
        else:
            source = catalog.secret_source(value.source)
            resolve_in = getattr(source, "resolve_in", None)
            if resolve_in is None:
                found = Secret(source.resolve(value.argument))
            else:
                # As for a profile's secrets: {env:} from the config's environment, a
                # relative {file:} next to the config file.
                context = SecretContext(
                    environ=config.environ, directory=config.directory, location=f"agent.{key}"
                )
                found = Secret(resolve_in(value.argument, context))
    except SecretError as error:
        message = error.problems[0].message
    except Exception as error:
        message = f"secret source {value.source!r} failed: {type(error).__name__}"
    else:
        if found:
            return found
        message = "the secret is empty"
    raise SecretError(message, file=config.source, path=f"agent.{key}")


class AgentState:
    """The settings in force, and the registry that serves each exposed profile.

    Args:
        path: The config file (discovered when None), read again by :meth:`reload`.
        loaded: Its first reading.
    """

    def __init__(self, path: str | None, loaded: Loaded) -> None:
        self._path = path
        self._loaded = loaded
        registry = Registry(loaded.config, catalog=loaded.catalog)
        self._registries: dict[str, Registry] = dict.fromkeys(loaded.settings.profiles, registry)
        self._all = [registry]
        self._reloading = threading.Lock()
        self._retired: list[tuple[float, Registry]] = []

    @property
    def settings(self) -> AgentSettings:
        """The ``agent`` section in force."""
        return self._loaded.settings

    @property
    def source(self) -> str:
        """The config file in force."""
        return self._loaded.config.source

    def registry(self, profile: str) -> Registry | None:
        """The registry serving ``profile``; None when the agent does not serve it."""
        return self._registries.get(profile)

    @property
    def tcp_token(self) -> Secret | None:
        """The bearer TCP callers present (None: TCP callers get no native API)."""
        return self._loaded.tcp_token

    @property
    def azure_header(self) -> Secret | None:
        """The ``X-IDENTITY-HEADER`` secret (None: no Azure endpoint)."""
        return self._loaded.azure_header

    def reload(self) -> list[str]:
        """Read the file again; rebuild the profiles that changed, keep the others.

        Returns:
            The exposed profiles that were rebuilt (new, or changed).

        Raises:
            ConfigError: The new file is invalid; the config in force stays.
        """
        with self._reloading:
            return self._reload()

    def _reload(self) -> list[str]:
        loaded = load(self._path)
        new = Registry(loaded.config, catalog=loaded.catalog)
        old_profiles = self._loaded.config.profiles
        registries: dict[str, Registry] = {}
        rebuilt: list[str] = []
        for name in loaded.settings.profiles:
            kept = self._registries.get(name)
            if kept is not None and _same(old_profiles.get(name), loaded.config.profiles[name]):
                registries[name] = kept
            else:
                registries[name] = new
                rebuilt.append(name)
        self._loaded = loaded
        self._registries = registries
        in_use = {id(r) for r in registries.values()}
        now = time.monotonic()
        # A dropped registry may have a fetch in flight: it is closed a grace period later.
        for registry in [*self._all, new]:
            if id(registry) not in in_use:
                self._retired.append((now, registry))
        self._all = [r for r in {id(r): r for r in [*self._all, new]}.values() if id(r) in in_use]
        for retired_at, registry in list(self._retired):
            if now - retired_at >= _RETIRED_GRACE:
                registry.close()
                self._retired.remove((retired_at, registry))
        return rebuilt

    def stats(self) -> dict[str, dict[str, Any]]:
        """Each exposed profile's counters, from the registry that serves it."""
        report: dict[str, dict[str, Any]] = {}
        for name, registry in self._registries.items():
            report[name] = registry.stats().get(name, {})
        return report

    def close(self) -> None:
        """Close every registry."""
        for registry in [*self._all, *(r for _, r in self._retired)]:
            registry.close()
        self._all = []
        self._retired = []


def _same(old: Any, new: Any) -> bool:
    """Whether a profile's assembled config is unchanged (secret references compared too)."""
    try:
        return bool(old is not None and old == new)
    except Exception:  # an unusable profile carries an exception, compared by identity
        return False
