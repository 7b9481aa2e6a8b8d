"""Finding and loading plugins through entry points; the only module that uses stevedore.

Plugins are loaded lazily, by name, with stevedore's ``DriverManager`` (which imports only
the named plugin). stevedore's defaults are overridden: a plugin that fails to import raises
:class:`~tokenrack.errors.PluginLoadError` naming the entry point and its distribution, two
distributions claiming one name is an error naming both, and a plugin whose ``name`` differs
from its entry-point name is refused. Failures are recorded for ``tokenrack providers``.
"""

from __future__ import annotations

import importlib.metadata
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tokenrack.errors import PluginError, PluginLoadError, ProviderNotFoundError

if TYPE_CHECKING:
    from tokenrack.auth.methods import ClientAuthMethod
    from tokenrack.cache.backend import TokenCacheBackend
    from tokenrack.oauth.provider import Provider
    from tokenrack.secret.sources import SecretSource

__all__ = [
    "AUTH_METHODS",
    "CACHES",
    "GROUPS",
    "PROVIDERS",
    "SECRETS",
    "InstalledPlugin",
    "PluginCatalog",
]

PROVIDERS = "tokenrack.providers"
AUTH_METHODS = "tokenrack.auth_methods"
CACHES = "tokenrack.caches"
SECRETS = "tokenrack.secrets"
GROUPS = (PROVIDERS, AUTH_METHODS, CACHES, SECRETS)


@dataclass(frozen=True, slots=True)
class InstalledPlugin:
    """One entry point, as installed (nothing imported).

    Attributes:
        group: The entry-point group.
        name: The plugin's name.
        value: Where it points, ``module:attribute``.
        distribution: The distribution that declares it, when known.
        version: That distribution's version, when known.
    """

    group: str
    name: str
    value: str
    distribution: str | None
    version: str | None


def _installed(group: str) -> list[InstalledPlugin]:
    found = []
    for entry_point in importlib.metadata.entry_points(group=group):
        dist = entry_point.dist
        found.append(
            InstalledPlugin(
                group=group,
                name=entry_point.name,
                value=entry_point.value,
                distribution=dist.metadata["Name"] if dist is not None else None,
                version=dist.version if dist is not None else None,
            )
        )
    # The same distribution can be seen twice on sys.path (e.g. an editable install);
    # that is one plugin, not a conflict.
    unique = {(p.name, p.value, p.distribution): p for p in found}
    return sorted(unique.values(), key=lambda p: (p.name, p.distribution or ""))


class PluginCatalog:
    """The plugins installed in this environment, loaded on demand and kept once loaded."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._installed: dict[str, list[InstalledPlugin]] = {}
        self._loaded: dict[tuple[str, str], Any] = {}
        self._failures: dict[tuple[str, str], PluginError] = {}

    def installed(self, group: str) -> list[InstalledPlugin]:
        """Every entry point in ``group``, without importing any."""
        with self._lock:
            if group not in self._installed:
                self._installed[group] = _installed(group)
            return list(self._installed[group])

    def names(self, group: str) -> list[str]:
        """The distinct plugin names installed in ``group``."""
        return sorted({p.name for p in self.installed(group)})

    def failures(self) -> Mapping[tuple[str, str], PluginError]:
        """Every plugin that failed to load so far, by (group, name)."""
        with self._lock:
            return dict(self._failures)

    def load(self, group: str, name: str) -> Any:
        """The object entry point ``name`` in ``group`` points to.

        Raises:
            ProviderNotFoundError: No provider of that name (for the providers group).
            PluginError: No plugin of that name, or several distributions claim it.
            PluginLoadError: The plugin failed to import.
        """
        key = (group, name)
        with self._lock:
            if key in self._loaded:
                return self._loaded[key]
            if key in self._failures:
                raise self._failures[key]
        try:
            plugin = self._load(group, name)
        except PluginError as error:
            with self._lock:
                self._failures[key] = error
            raise
        with self._lock:
            self._loaded[key] = plugin
        return plugin

    def _load(self, group: str, name: str) -> Any:
        candidates = [p for p in self.installed(group) if p.name == name]
        if not candidates:
            if group == PROVIDERS:
                raise ProviderNotFoundError(name, installed=self.names(group))
            installed = ", ".join(self.names(group)) or "none"
            raise PluginError(
                f"no plugin named {name!r} in {group} (installed: {installed})",
                group=group,
                name=name,
            )
        if len(candidates) > 1:
            claimants = " and ".join(
                f"{p.distribution or 'an unknown distribution'} ({p.value})" for p in candidates
            )
            raise PluginError(
                f"{group} plugin {name!r} is claimed by {claimants}; uninstall one of them",
                group=group,
                name=name,
            )
        return _driver(group, name, candidates[0])

    def provider(self, name: str) -> type[Provider]:
        """The provider class registered as ``name``, checked to be a Provider named so."""
        from tokenrack.oauth.provider import Provider

        plugin = self.load(PROVIDERS, name)
        self._check(PROVIDERS, name, plugin, Provider)
        return plugin  # type: ignore[no-any-return]

    def auth_method(self, name: str) -> type[ClientAuthMethod]:
        """The client authentication method class registered as ``name``."""
        plugin = self.load(AUTH_METHODS, name)
        self._check(AUTH_METHODS, name, plugin, None)
        return plugin  # type: ignore[no-any-return]

    def secret_source(self, name: str) -> SecretSource:
        """An instance of the secret source registered as ``name``."""
        plugin = self.load(SECRETS, name)
        self._check(SECRETS, name, plugin, None)
        return plugin()  # type: ignore[no-any-return]

    def cache(self, name: str) -> TokenCacheBackend:
        """The token cache backend class registered as ``name`` (``file``, ``redis``, …).

        Raises:
            PluginError: No backend of that name, or several distributions claim it.
            PluginLoadError: It failed to import, is not a class, or is named differently.
        """
        plugin = self.load(CACHES, name)
        self._check(CACHES, name, plugin, None)
        return plugin  # type: ignore[no-any-return]

    def cache_schemas(self) -> Mapping[str, tuple[Mapping[str, Any], frozenset[str]]]:
        """Each installed cache backend's ``options_schema`` and ``secret_options``.

        A backend that fails to load is left out, so one broken third-party backend does
        not stop configs that do not use it from loading; naming it in ``cache`` is then
        an error that lists the backends that did load.
        """
        schemas: dict[str, tuple[Mapping[str, Any], frozenset[str]]] = {}
        for name in self.names(CACHES):
            try:
                backend = self.cache(name)
                schemas[name] = (backend.options_schema, frozenset(backend.secret_options))
            except (PluginError, AttributeError):
                continue
        return schemas

    def secret_source_schemas(self) -> Mapping[str, Mapping[str, Any]]:
        """Each installed secret source's argument schema (``{}`` if it fails to load)."""
        schemas: dict[str, Mapping[str, Any]] = {}
        for name in self.names(SECRETS):
            try:
                schemas[name] = self.load(SECRETS, name).argument_schema
            except (PluginError, AttributeError):
                schemas[name] = {}
        return schemas

    def _check(self, group: str, name: str, plugin: Any, base: type | None) -> None:
        """Refuse a plugin that is not a class of the right kind or is named differently."""
        distribution = next((p.distribution for p in self.installed(group) if p.name == name), None)
        problem = None
        if not isinstance(plugin, type) or (base is not None and not issubclass(plugin, base)):
            kind = base.__name__ if base is not None else "plugin"
            problem = f"does not point to a {kind} class"
        elif getattr(plugin, "name", None) != name:
            problem = (
                f"points to {plugin.__qualname__}, whose name is "
                f"{getattr(plugin, 'name', None)!r}, not {name!r}"
            )
        if problem is None:
            return
        error = PluginLoadError(
            f"{group} plugin {name!r} from {distribution or 'an unknown distribution'} {problem}",
            group=group,
            name=name,
            distribution=distribution,
        )
        with self._lock:
            self._loaded.pop((group, name), None)
            self._failures[(group, name)] = error
        raise error


def _driver(group: str, name: str, plugin: InstalledPlugin) -> Any:
    """Import one plugin with stevedore, translating its errors into tokenrack's own."""
    from stevedore import DriverManager, ExtensionManager
    from stevedore.exception import NoUniqueMatch

    def fail(manager: Any, entry_point: Any, error: BaseException) -> None:
        raise error

    def manager() -> DriverManager[Any]:
        return DriverManager(
            namespace=group,
            name=name,
            invoke_on_load=False,
            on_load_failure_callback=fail,
            on_missing_entrypoints_callback=None,
            # Conflicts between distributions were refused above; what is left is one
            # distribution seen twice on sys.path, so any copy will do.
            conflict_resolver=lambda namespace, name, extensions: extensions[0],
        )

    # stevedore memoises each group's entry points for the life of the process; loading is
    # once per plugin per catalog, so rescan to see what importlib.metadata saw just now
    # (a plugin installed or removed since the memo was made).
    ExtensionManager.ENTRY_POINT_CACHE.pop(group, None)
    try:
        return manager().driver
    except NoUniqueMatch as error:
        raise PluginError(f"{group} plugin {name!r}: {error}", group=group, name=name) from None
    except Exception as error:
        raise PluginLoadError(
            f"{group} plugin {name!r} ({plugin.value}) from "
            f"{plugin.distribution or 'an unknown distribution'} failed to load: "
            f"{type(error).__name__}: {error}",
            group=group,
            name=name,
            distribution=plugin.distribution,
        ) from error
