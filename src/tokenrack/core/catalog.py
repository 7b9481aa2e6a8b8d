"""Finding and loading plugins through entry points; the only module that uses stevedore.

Entry points are listed with :mod:`importlib.metadata`, every group in one scan per process
(redone when ``sys.path`` or one of its directories changes); a plugin is loaded lazily, by name,
by stevedore's ``DriverManager`` handed that one entry point (so only the named plugin is
imported, and stevedore's own entry-point scan and its on-disk cache are never used).
stevedore's defaults are overridden: a plugin that fails to import raises
:class:`~tokenrack.errors.PluginLoadError` naming the entry point and its distribution, two
distributions claiming one name is an error naming both, and a plugin that does not keep
its group's contract (:mod:`tokenrack.core.plugin_contract`), or whose ``name`` differs
from its entry-point name, is refused. Failures are recorded for ``tokenrack providers``.

Applications and tests may also register plugins in-process (:meth:`PluginCatalog.register`,
or ``plugins=`` on the registry's constructors): they are checked the same way, and a name
an installed entry point already uses is refused rather than silently shadowed.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tokenrack.core.plugin_contract import contract_problem
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
    "VENDOR_PACK",
    "VENDOR_PACK_PROVIDERS",
    "InstalledPlugin",
    "PluginCatalog",
    "Plugins",
]

PROVIDERS = "tokenrack.providers"
AUTH_METHODS = "tokenrack.auth_methods"
CACHES = "tokenrack.caches"
SECRETS = "tokenrack.secrets"
GROUPS = (PROVIDERS, AUTH_METHODS, CACHES, SECRETS)

Plugins = Mapping[str, Mapping[str, Any]]
"""In-process plugins: entry-point group -> name -> what an entry point would point to."""

_REGISTERED = "registered in-process"

VENDOR_PACK = "tokenrack-providers"
"""The vendor pack's distribution name (``pip install 'tokenrack[vendors]'``)."""

VENDOR_PACK_PROVIDERS = frozenset(
    {
        "apigee",
        "auth0",
        "azure",
        "cognito",
        "google",
        "keycloak",
        "okta",
        "ping",
        "salesforce",
        "zoom",
    }
)
"""The provider names the vendor pack installs: only so that a missing one gets the right
install hint when the pack is not installed (a test keeps it equal to the pack's entry
points; the core knows nothing else of them)."""


@dataclass(frozen=True, slots=True)
class InstalledPlugin:
    """One entry point, as installed (nothing imported).

    Attributes:
        group: The entry-point group.
        name: The plugin's name.
        value: Where it points, ``module:attribute``.
        distribution: The distribution that declares it, when known.
        version: That distribution's version, when known.
        entry_point: The entry point itself (None for a plugin registered in process).
    """

    group: str
    name: str
    value: str
    distribution: str | None
    version: str | None
    entry_point: importlib.metadata.EntryPoint | None = field(
        default=None, compare=False, repr=False
    )


# One scan of the installed distributions' entry points per process, shared by every
# catalog: each scan reads every distribution's metadata (about 8 ms in this project's
# venv), and a group-by-group scan costs that once per group. The scan is redone when
# sys.path, or the modification time of one of its directories, changes, so a plugin
# installed since (pip adds a directory to site-packages) or put on sys.path is seen.
_scan_lock = threading.Lock()
_scanned: tuple[tuple[tuple[str, int], ...], dict[str, list[InstalledPlugin]]] | None = None


def _path_state() -> tuple[tuple[str, int], ...]:
    """sys.path with each entry's modification time (0 when it cannot be read)."""
    state = []
    for entry in sys.path:
        try:
            mtime = os.stat(entry or ".").st_mtime_ns
        except (OSError, ValueError, TypeError):
            mtime = 0
        state.append((str(entry), mtime))
    return tuple(state)


def _scan() -> dict[str, list[InstalledPlugin]]:
    """Every tokenrack group's entry points, from one walk of the installed distributions."""
    # One distribution's name and version, read (parsing its METADATA) once, not per plugin.
    described: dict[int, tuple[str | None, str | None]] = {}
    dists: list[Any] = []  # kept alive, so that the id() keys stay unique
    everything = importlib.metadata.entry_points()
    found: dict[str, list[InstalledPlugin]] = {}
    for group in GROUPS:
        plugins = []
        for entry_point in everything.select(group=group):
            dist = entry_point.dist
            if dist is not None and id(dist) not in described:
                dists.append(dist)
                described[id(dist)] = (dist.metadata["Name"], dist.version)
            name, version = described[id(dist)] if dist is not None else (None, None)
            plugins.append(
                InstalledPlugin(
                    group=group,
                    name=entry_point.name,
                    value=entry_point.value,
                    distribution=name,
                    version=version,
                    entry_point=entry_point,
                )
            )
        # The same distribution can be seen twice on sys.path (e.g. an editable install);
        # that is one plugin, not a conflict.
        unique = {(p.name, p.value, p.distribution): p for p in plugins}
        found[group] = sorted(unique.values(), key=lambda p: (p.name, p.distribution or ""))
    return found


def _scan_or_index() -> dict[str, list[InstalledPlugin]]:
    """The last scan, from the per-user index when nothing was installed since; else a scan."""
    from tokenrack.core import plugin_index

    state = plugin_index.current_state()
    if state is not None:
        entries = plugin_index.read_index(state, GROUPS)
        if entries is not None:
            return {
                group: [InstalledPlugin(group, *entry) for entry in rows]
                for group, rows in entries.items()
            }
    found = _scan()
    if state is not None:
        plugin_index.write_index(
            state,
            {
                group: [(p.name, p.value, p.distribution, p.version) for p in plugins]
                for group, plugins in found.items()
            },
        )
    return found


def _installed(group: str) -> list[InstalledPlugin]:
    """The entry points of ``group`` (one of :data:`GROUPS`), from this process's scan."""
    global _scanned
    state = _path_state()
    with _scan_lock:
        if _scanned is None or _scanned[0] != state:
            _scanned = (state, _scan_or_index())
        return list(_scanned[1].get(group, ()))


class PluginCatalog:
    """The plugins installed in this environment, loaded on demand and kept once loaded.

    Args:
        plugins: Plugins to register in-process, as :meth:`register` does, e.g.
            ``{"tokenrack.providers": {"acme": AcmeProvider}}``.

    Raises:
        PluginError: A registered name is already an installed entry point, or the group
            is not one of :data:`GROUPS`.
        PluginLoadError: A registered object does not keep its group's contract.
    """

    def __init__(self, plugins: Plugins | None = None) -> None:
        self._lock = threading.Lock()
        self._installed: dict[str, list[InstalledPlugin]] = {}
        self._registered: dict[tuple[str, str], Any] = {}
        self._loaded: dict[tuple[str, str], Any] = {}
        self._failures: dict[tuple[str, str], PluginError] = {}
        self.register_all(plugins or {})

    def register_all(self, plugins: Plugins) -> None:
        """:meth:`register` each plugin of ``{group: {name: plugin}}``, in order.

        Raises:
            PluginError: As :meth:`register`.
            PluginLoadError: As :meth:`register`.
        """
        for group, named in plugins.items():
            for name, plugin in named.items():
                self.register(group, name, plugin)

    def register(self, group: str, name: str, plugin: Any) -> None:
        """Add a plugin without an entry point, for this catalog only.

        ``plugin`` is what an entry point would point to (a ``Provider`` subclass, an
        ``AuthMethod`` class, a cache backend class, a secret source class); it is checked
        now, as a loaded entry point is.

        Raises:
            PluginError: ``group`` is unknown, or ``name`` is taken: by an installed entry
                point (there is no silent winner) or by an earlier registration.
            PluginLoadError: ``plugin`` does not keep its group's contract.
        """
        if group not in GROUPS:
            raise PluginError(
                f"cannot register {name!r}: {group!r} is not a plugin group "
                f"(one of {', '.join(GROUPS)})",
                group=group,
                name=name,
            )
        owners = [p for p in self.installed(group) if p.name == name]
        if owners:
            owner = owners[0]
            raise PluginError(
                f"cannot register {group} plugin {name!r}: "
                f"{owner.distribution or 'an unknown distribution'} ({owner.value}) already "
                f"installs that name; register yours under another name",
                group=group,
                name=name,
            )
        problem = contract_problem(group, name, plugin)
        if problem is not None:
            raise PluginLoadError(
                f"{group} plugin {name!r} {_REGISTERED} {problem}",
                group=group,
                name=name,
                distribution=None,
            )
        with self._lock:
            if (group, name) in self._registered:
                raise PluginError(
                    f"{group} plugin {name!r} is already {_REGISTERED}",
                    group=group,
                    name=name,
                )
            self._registered[(group, name)] = plugin
            # A lookup that failed before the registration no longer stands.
            self._failures.pop((group, name), None)

    def installed(self, group: str) -> list[InstalledPlugin]:
        """Every entry point in ``group``, without importing any (registrations aside)."""
        with self._lock:
            if group not in self._installed:
                self._installed[group] = _installed(group)
            return list(self._installed[group])

    def names(self, group: str) -> list[str]:
        """The distinct plugin names in ``group``: installed and registered."""
        installed = {p.name for p in self.installed(group)}
        with self._lock:
            registered = {name for (g, name) in self._registered if g == group}
        return sorted(installed | registered)

    def loaded(self) -> frozenset[tuple[str, str]]:
        """The (group, name) of every installed plugin imported so far (registrations aside).

        A config imports only the plugins its used profiles name (issue 15): this says which.
        """
        with self._lock:
            return frozenset(self._loaded)

    def failures(self) -> Mapping[tuple[str, str], PluginError]:
        """Every plugin that failed to load so far, by (group, name)."""
        with self._lock:
            return dict(self._failures)

    def load(self, group: str, name: str) -> Any:
        """The object plugin ``name`` in ``group`` points to, checked against its contract.

        Raises:
            ProviderNotFoundError: No provider of that name (for the providers group).
            PluginError: No plugin of that name, or several distributions claim it.
            PluginLoadError: The plugin failed to import, or does not keep its group's
                contract (not a class of the right kind, misnamed, an attribute missing
                or of the wrong type).
        """
        key = (group, name)
        with self._lock:
            if key in self._registered:
                return self._registered[key]
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
                raise self._provider_not_found(name)
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
        (found,) = candidates
        plugin = _driver(group, name, found)
        problem = contract_problem(group, name, plugin)
        if problem is not None:
            raise PluginLoadError(
                f"{group} plugin {name!r} from "
                f"{found.distribution or 'an unknown distribution'} {problem}",
                group=group,
                name=name,
                distribution=found.distribution,
            )
        return plugin

    def _provider_not_found(self, name: str) -> ProviderNotFoundError:
        """No such provider: the closest name, and an install hint only where one helps."""
        import difflib  # for a suggestion only

        installed = self.names(PROVIDERS)
        pack = any(_same_dist(p.distribution, VENDOR_PACK) for p in self.installed(PROVIDERS))
        known = installed if pack else sorted(set(installed) | VENDOR_PACK_PROVIDERS)
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        suggestion = close[0] if close else None
        if pack:
            hint = None  # the pack is here: a name it lacks is a typo or another package's
        elif name in VENDOR_PACK_PROVIDERS or suggestion in VENDOR_PACK_PROVIDERS:
            pick = name if name in VENDOR_PACK_PROVIDERS else suggestion
            hint = f"{pick!r} is in the vendor pack: pip install 'tokenrack[vendors]'"
        else:
            hint = "install the plugin package that provides it"
        return ProviderNotFoundError(name, installed=installed, suggestion=suggestion, hint=hint)

    def provider(self, name: str) -> type[Provider]:
        """The provider class registered as ``name``, checked to be a Provider named so."""
        return self.load(PROVIDERS, name)  # type: ignore[no-any-return]

    def auth_method(self, name: str) -> type[ClientAuthMethod]:
        """The client authentication method class registered as ``name``."""
        return self.load(AUTH_METHODS, name)  # type: ignore[no-any-return]

    def secret_source(self, name: str) -> SecretSource:
        """An instance of the secret source registered as ``name``."""
        return self.load(SECRETS, name)()  # type: ignore[no-any-return]

    def cache(self, name: str) -> TokenCacheBackend:
        """The token cache backend class registered as ``name`` (``file``, ``redis``, …).

        Raises:
            PluginError: No backend of that name, or several distributions claim it.
            PluginLoadError: It failed to import, or does not keep the backend contract.
        """
        return self.load(CACHES, name)  # type: ignore[no-any-return]

    def cache_schema(self, name: str) -> tuple[Mapping[str, Any], frozenset[str]] | None:
        """One cache backend's ``options_schema`` and ``secret_options``, importing it alone.

        None when no backend has that name or it fails to load (naming it in ``cache`` is
        then an error that lists the other backends).
        """
        try:
            backend = self.cache(name)
        except PluginError:
            return None
        return backend.options_schema, frozenset(backend.secret_options)

    def cache_schemas(self) -> Mapping[str, tuple[Mapping[str, Any], frozenset[str]]]:
        """Each installed cache backend's ``options_schema`` and ``secret_options``.

        Imports every backend (the editor schema, ``tokenrack schema``, shows them all); a
        config's profiles ask :meth:`cache_schema` for the one they name. A backend that
        fails to load is left out, so one broken third-party backend does not stop configs
        that do not use it from loading.
        """
        schemas: dict[str, tuple[Mapping[str, Any], frozenset[str]]] = {}
        for name in self.names(CACHES):
            found = self.cache_schema(name)
            if found is not None:
                schemas[name] = found
        return schemas

    def secret_source_schema(self, name: str) -> Mapping[str, Any] | None:
        """One secret source's argument schema, importing it alone.

        None when no source has that name; ``{}`` when it fails to load (using it then
        fails with the plugin's error).
        """
        if name not in self.names(SECRETS):
            return None
        try:
            schema: Mapping[str, Any] = self.load(SECRETS, name).argument_schema
        except PluginError:
            return {}
        return schema

    def secret_source_schemas(self) -> Mapping[str, Mapping[str, Any]]:
        """Each installed secret source's argument schema (``{}`` if it fails to load).

        Imports every source (for the editor schema); a profile asks
        :meth:`secret_source_schema` for the sources it names.
        """
        return {name: self.secret_source_schema(name) or {} for name in self.names(SECRETS)}


def _same_dist(found: str | None, wanted: str) -> bool:
    """Distribution names compared as pip does (PEP 503: case, ``-``, ``_`` and ``.``)."""
    if found is None:
        return False
    return re.sub(r"[-_.]+", "-", found).lower() == wanted


_driver_class: Any = None


def _chosen_driver() -> Any:
    """The ``DriverManager`` subclass told which entry point to load (made once)."""
    global _driver_class
    if _driver_class is None:
        from stevedore import DriverManager

        class _ChosenDriver(DriverManager[Any]):
            # The catalog already listed the group with importlib.metadata and refused
            # conflicts; handing stevedore the one entry point chosen keeps it from scanning
            # again, from memoising the group for the life of the process (a plugin
            # installed since would stay invisible) and from writing its cache under
            # $XDG_CACHE_HOME.
            def __init__(self, chosen: list[importlib.metadata.EntryPoint], **kwargs: Any):
                self._chosen = chosen
                super().__init__(**kwargs)

            def list_entry_points(self) -> list[importlib.metadata.EntryPoint]:
                return self._chosen

        # Made once per process: a generic subclass per plugin cost more than its import.
        _driver_class = _ChosenDriver
    return _driver_class


def _driver(group: str, name: str, plugin: InstalledPlugin) -> Any:
    """Import one plugin with stevedore, translating its errors into tokenrack's own."""
    # The entry point the catalog listed: asking importlib.metadata again would scan
    # every installed distribution once per plugin (about 10 ms each, on every start).
    entry_point = plugin.entry_point
    if entry_point is None:  # from the index: made from what the scan found
        entry_point = importlib.metadata.EntryPoint(plugin.name, plugin.value, group)
    chosen = [entry_point]

    def fail(manager: Any, entry_point: Any, error: BaseException) -> None:
        raise error

    try:
        return _chosen_driver()(
            chosen,
            namespace=group,
            name=name,
            invoke_on_load=False,
            on_load_failure_callback=fail,
            on_missing_entrypoints_callback=None,
        ).driver
    except Exception as error:
        raise PluginLoadError(
            f"{group} plugin {name!r} ({plugin.value}) from "
            f"{plugin.distribution or 'an unknown distribution'} failed to load: "
            f"{type(error).__name__}: {error}",
            group=group,
            name=name,
            distribution=plugin.distribution,
        ) from error
