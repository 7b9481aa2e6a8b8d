"""From parsed YAML to validated profiles: defaults, ``extends``, ``${VAR}``, secrets, schema.

Every problem found is collected, each with the file, the JSON path, the line and column
(for YAML) and what was expected. Profiles are isolated from each other's mistakes: a
problem scoped to one profile (a schema error, an unset ``${VAR}``, a missing extra, a
missing or broken provider) makes that profile unusable, and its error is raised when it is
used; the other profiles load. Only file-level problems stop the whole file: the top-level
keys, ``version``, ``default_profile`` and ``defaults``; an error in ``defaults`` is
reported together with every profile's problems, in one error.
"""

from __future__ import annotations

import copy
import hashlib
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from tokenrack.auth.jwt_bearer import grant_problem, with_grant
from tokenrack.auth.selection import AUTO, AUTO_ORDER, MATERIAL_KEYS
from tokenrack.cache.settings import PLAINTEXT_PROBLEM, cache_settings, needs_plaintext_opt_in
from tokenrack.config.interpolate import InterpolationError, has_reference, interpolate
from tokenrack.config.marks import Marks
from tokenrack.config.options import ProfileOptions, parse_options
from tokenrack.config.schema import (
    CACHE_SECRET_OPTIONS,
    CORE_SECRET_OPTIONS,
    MERGED_KEYS,
    CacheSchemas,
    core_profile_properties,
    defaults_schema,
    profile_schema,
)
from tokenrack.config.template import TEMPLATE
from tokenrack.config.validate import join_path, validate
from tokenrack.errors import (
    ConfigError,
    ConfigProblem,
    PluginError,
    PluginLoadError,
    ProfileNotFoundError,
    ProviderNotFoundError,
)
from tokenrack.oauth.url_policy import insecure_url_problem, userinfo_problem
from tokenrack.secret.value import Secret, SecretRef, SecretValue
from tokenrack.util.extras import extra_installed
from tokenrack.util.log import get_logger

if TYPE_CHECKING:
    from tokenrack.auth.methods import ClientAuthMethod
    from tokenrack.oauth.provider import Provider

__all__ = ["Config", "LazyProfiles", "PluginSchemas", "ProfileConfig", "load_config"]

logger = get_logger("tokenrack.config")

SECRET_SOURCES = "tokenrack.secrets"
CACHE_BACKENDS = "tokenrack.caches"
# A plugin a section does not name: its schema is never reached (see _NamedPlugins).
_UNNAMED_SOURCE: Mapping[str, Any] = MappingProxyType({})
_UNNAMED_CACHE: tuple[Mapping[str, Any], frozenset[str]] = (MappingProxyType({}), frozenset())


class PluginSchemas(Protocol):
    """What the loader needs to know about installed plugins (the registry provides it)."""

    def provider(self, name: str) -> type[Provider]:
        """The provider class registered as ``name``; raises PluginError."""
        ...

    def auth_method(self, name: str) -> type[ClientAuthMethod]:
        """The auth method class registered as ``name``; raises PluginError."""
        ...

    def names(self, group: str) -> list[str]:
        """The names installed in an entry-point group, without importing them."""
        ...

    def secret_source_schema(self, name: str) -> Mapping[str, Any] | None:
        """One secret source's argument schema (None: not installed; ``{}``: broken)."""
        ...

    def cache_schema(self, name: str) -> tuple[Mapping[str, Any], frozenset[str]] | None:
        """One cache backend's ``options_schema`` and ``secret_options`` (None: unusable)."""
        ...


@dataclass(frozen=True, slots=True)
class ProfileConfig:
    """One profile, assembled and validated.

    Attributes:
        name: The profile's name.
        provider: The provider's entry-point name.
        auth_method: The client authentication method's name.
        options: Every key of the profile after defaults, ``extends`` and interpolation;
            secret keys hold :class:`~tokenrack.secret.value.Secret` or ``SecretRef`` values, and
            so do the secret keys inside a ``cache`` mapping (``cache.encryption_key``, …),
            resolved by the cache layer at its first use.
        secret_keys: The keys that hold secrets.
        origins: For each key, the section it came from (``defaults``, ``profiles.x``).
        unusable: What makes this profile unusable, raised at its first use: its own
            :class:`~tokenrack.errors.ConfigError` (every problem of the profile, with file,
            path and line) or a :class:`~tokenrack.errors.PluginError` (its provider or auth
            method is missing or broken).
        parsed: The core's options, typed, parsed once here (defaults for an unusable
            profile, which is never run).
    """

    name: str
    provider: str
    auth_method: str
    options: Mapping[str, Any]
    secret_keys: frozenset[str] = frozenset(CORE_SECRET_OPTIONS)
    origins: Mapping[str, str] = field(default_factory=dict)
    unusable: ConfigError | PluginError | None = None
    parsed: ProfileOptions = field(default_factory=ProfileOptions)


@dataclass(frozen=True, slots=True)
class _Plugins:
    """What a profile's plugins contribute to its loading."""

    provider_name: str
    provider: type[Provider]
    auth_name: str
    methods: list[type[ClientAuthMethod]]
    secret_keys: frozenset[str]


@dataclass(frozen=True, slots=True)
class _NamedPlugins:
    """The secret sources and cache backend one section of the config names.

    Only these are imported (issue 15): the schema is composed with each installed name,
    but with the real schema only for the names written; the others get a placeholder that
    no value of the section can reach, since a source is reached by writing its name as
    the key of ``{source: argument}`` and a backend by naming it in ``cache``.
    """

    key: tuple[frozenset[str], str | None]
    sources: Mapping[str, Mapping[str, Any]]
    caches: CacheSchemas
    cache_secrets: frozenset[str]
    cache_keys: frozenset[str] | None
    """The keys the named backend declares (None: it names none, or one that is unusable)."""

    def hider(self, secret_keys: frozenset[str]) -> Callable[[Sequence[str | int]], bool]:
        """Hide values under secret keys, ``cache``'s secret keys and its unknown keys."""
        cache_secrets, known = self.cache_secrets, self.cache_keys

        def hide(parts: Sequence[str | int]) -> bool:
            if not parts:
                return False
            if parts[0] in secret_keys:
                return True
            if parts[0] != "cache" or len(parts) < 2:
                return False
            # A key the named backend does not declare may be another backend's secret
            # (``password``); its value is never shown.
            if parts[1] in cache_secrets:
                return True
            return parts[1] != "backend" and (known is None or parts[1] not in known)

        return hide


def _os_environ() -> Mapping[str, str]:
    return os.environ  # the live mapping, not a copy: a rotated variable is seen


@dataclass(frozen=True, slots=True)
class Config:
    """A loaded configuration.

    Attributes:
        source: The file it came from, or ``<dict>``.
        profiles: The profiles by name, in file order, usable or not (see
            :attr:`ProfileConfig.unusable`).
        default_profile: The ``default_profile`` key: the profile used when none is
            named (None when the file has no such key).
        marks: Line and column of each path, for errors found after loading.
        environ: The environment its ``${VAR}`` references are read from: at load, and
            at the profile's first use for inline secrets (never shown: it may hold secrets).
        directory: The directory relative secret and key file paths are resolved against:
            the config file's; None (a config from a dict): the current directory.
    """

    source: str
    profiles: Mapping[str, ProfileConfig]
    environ: Mapping[str, str] = field(default_factory=_os_environ, repr=False, compare=False)
    directory: str | None = None
    default_profile: str | None = None
    marks: Marks = field(default_factory=Marks, repr=False, compare=False)

    def problems(self) -> dict[str, ConfigError | PluginError]:
        """Each unusable profile's error, by name, in file order (empty: all are usable).

        Profiles are assembled and validated at their first use (see :func:`load_config`):
        this call builds every profile not built yet, so it costs what a full validation of
        the file costs (about 0.1 ms a profile), once.
        """
        return {
            name: profile.unusable
            for name, profile in self.profiles.items()
            if profile.unusable is not None
        }

    def written_secrets(self, *, inline_only: bool = False) -> list[tuple[str, SecretValue]]:
        """Each secret as the file writes it, by JSON path, without building any profile.

        The profile's own secret keys (``profiles.x.client_secret``) and ``cache``'s
        (``profiles.x.cache.password``), after defaults and ``extends``, before any check:
        what the load-time exposure checks need, at a cost linear in the file.

        Args:
            inline_only: Only the profiles' own secrets written inline (no references, no
                ``cache`` keys): what the readable-file warning needs. A profile's plugins
                are then imported only when an inline string sits under a key the core
                does not know (a provider's or a method's own secret may be there).
        """
        if isinstance(self.profiles, LazyProfiles):
            return self.profiles.written_secrets(inline_only=inline_only)
        found: list[tuple[str, SecretValue]] = []
        for name, profile in self.profiles.items():
            for key in sorted(profile.secret_keys):
                value = profile.options.get(key)
                if inline_only and not isinstance(value, Secret):
                    continue
                if isinstance(value, (Secret, SecretRef)):
                    found.append((f"profiles.{name}.{key}", value))
            cache = profile.options.get("cache")
            if isinstance(cache, Mapping) and not inline_only:
                found += [
                    (f"profiles.{name}.cache.{key}", value)
                    for key, value in cache.items()
                    if isinstance(value, (Secret, SecretRef))
                ]
        return found

    def profile(self, name: str) -> ProfileConfig:
        """The profile called ``name``.

        Raises:
            ProfileNotFoundError: There is none; the error lists the known ones, closest first.
        """
        import difflib  # for a suggestion only

        try:
            return self.profiles[name]
        except KeyError:
            known = sorted(
                self.profiles,
                key=lambda known: -difflib.SequenceMatcher(None, name, known).ratio(),
            )
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            raise ProfileNotFoundError(
                name, known=known, suggestion=close[0] if close else None, file=self.source
            ) from None


_TOP_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "required": ["version", "profiles"],
    "properties": {
        "version": {"const": 1, "description": "1 (the only config version so far)"},
        "default_profile": {"type": "string", "minLength": 1},
        "defaults": {"type": "object"},
        "profiles": {"type": "object", "additionalProperties": {"type": "object"}},
        # Read by `tokenrack serve` alone, which validates it (tokenrack.agent.settings).
        "agent": {"type": "object"},
    },
    "additionalProperties": False,
}


def load_config(
    data: Any,
    *,
    source: str,
    plugins: PluginSchemas,
    environ: Mapping[str, str],
    marks: Marks | None = None,
) -> Config:
    """Assemble and validate a parsed config document.

    A profile with problems is kept, marked unusable with its own error (see
    :attr:`ProfileConfig.unusable`); the others load.

    Args:
        data: What ``yaml.safe_load`` returned (or a dict built in code).
        source: The file name for messages, or ``<dict>``.
        plugins: The installed plugins' schemas.
        environ: The environment ``${VAR}`` references read.
        marks: Where each value was written, for line and column in messages.

    Raises:
        ConfigError: A file-level problem: the document's shape, ``version``, unknown
            top-level keys, ``default_profile``, or ``defaults`` (reported together with
            every profile's problems); each problem names its JSON path.
    """
    marks = marks or Marks()
    if not isinstance(data, Mapping):
        found = "an empty file" if data is None else type(data).__name__
        raise ConfigError(f"expected a mapping with version and profiles, got {found}", file=source)
    problems = validate(data, _TOP_SCHEMA, base="")
    if problems:
        raise ConfigError(problems=marks.locate(problems), file=source)
    defaults = dict(data.get("defaults") or {})
    raw_profiles: Mapping[Any, Any] = data["profiles"]
    builder = _ProfileBuilder(raw_profiles, defaults, plugins, environ)
    named = builder.named_plugins(defaults)
    file_problems = validate(
        defaults,
        defaults_schema(named.sources, named.caches),
        base="defaults",
        hide=named.hider(frozenset()),
    )
    builder.source, builder.marks = source, marks
    names: list[str] = []
    for name in raw_profiles:
        if not isinstance(name, str):
            file_problems.append(ConfigProblem(f"profiles.{name}", "profile names must be strings"))
            continue
        names.append(name)
    profiles = LazyProfiles(names, builder)
    default_profile = data.get("default_profile")
    if default_profile is not None and default_profile not in profiles:
        import difflib  # for a suggestion only

        close = difflib.get_close_matches(str(default_profile), names, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        listing = ", ".join(names) or "none are defined"
        file_problems.append(
            ConfigProblem(
                "default_profile",
                f"no profile named {default_profile!r}{hint}; known profiles: {listing}",
            )
        )
    if file_problems:
        # Reported with every profile's problems: a fix of ``defaults`` alone would only
        # lead to the next error.
        # A value of ``defaults`` that is wrong is said once, at ``defaults.…``, not again
        # for every profile that inherits it.
        said = {p.path for p in file_problems if p.path.startswith("defaults.")}
        for name, profile in profiles.items():
            if isinstance(profile.unusable, ConfigError):
                file_problems.extend(
                    p
                    for p in profile.unusable.problems
                    if "defaults" + p.path[len(f"profiles.{name}") :] not in said
                )
        raise ConfigError(problems=marks.locate(file_problems), file=source)
    if not names:
        logger.warning("%s: profiles is empty; no profile can be used", source)
    # Said at load, from the file as written: the profiles themselves are built later.
    _warn_about_scopes(source, "defaults", defaults)
    for name in names:
        raw = raw_profiles[name]
        if isinstance(raw, Mapping):
            _warn_about_scopes(source, f"profiles.{name}", raw)
    return Config(
        source=source,
        profiles=profiles,
        environ=environ,
        default_profile=default_profile,
        marks=marks.settle(),
    )


class LazyProfiles(Mapping[str, ProfileConfig]):
    """The profiles of a config by name, each assembled and validated at its first read.

    Names, order, ``len`` and ``in`` come from the file without building anything; reading
    a profile builds it once (thread-safe) and keeps it. A 10,000-profile config so loads
    in the time its YAML takes to parse, and a process pays validation only for the
    profiles it uses. Iterating values or items builds every profile.
    """

    __slots__ = ("_builder", "_built", "_lock", "_names")

    def __init__(self, names: Sequence[str], builder: _ProfileBuilder) -> None:
        self._names = dict.fromkeys(names)
        self._builder = builder
        self._built: dict[str, ProfileConfig] = {}
        self._lock = threading.Lock()

    def __getitem__(self, name: str) -> ProfileConfig:
        try:
            return self._built[name]
        except KeyError:
            if name not in self._names:
                raise
        with self._lock:  # the builder keeps per-profile state while it works
            found = self._built.get(name)
            if found is None:
                found = self._built[name] = self._builder.build(name)
            return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __repr__(self) -> str:
        return f"LazyProfiles({len(self._names)} profiles, {len(self._built)} built)"

    @property
    def built(self) -> frozenset[str]:
        """The names of the profiles built so far (for diagnostics and tests)."""
        return frozenset(self._built)

    def written_secrets(self, *, inline_only: bool = False) -> list[tuple[str, SecretValue]]:
        """See :meth:`Config.written_secrets`."""
        with self._lock:
            return [
                found
                for name in self._names
                for found in self._builder.written_secrets(name, inline_only=inline_only)
            ]


class _ProfileBuilder:
    """Assembles profiles one by one, collecting problems instead of stopping at the first."""

    def __init__(
        self,
        raw_profiles: Mapping[Any, Any],
        defaults: Mapping[str, Any],
        plugins: PluginSchemas,
        environ: Mapping[str, str],
    ) -> None:
        self.raw_profiles = raw_profiles
        self.defaults = defaults
        self.plugins = plugins
        self.environ = environ
        self._source_names = frozenset(plugins.names(SECRET_SOURCES))
        self._cache_names = tuple(n for n in plugins.names(CACHE_BACKENDS) if n != "memory")
        self._named: dict[tuple[frozenset[str], str | None], _NamedPlugins] = {}
        self.problems: list[ConfigProblem] = []
        self.source = "<dict>"
        self.marks = Marks()
        self._url_passwords: dict[str, Secret] = {}
        # One composed schema per provider and methods: 10,000 profiles of one provider
        # share it, instead of composing (and deep-copying) it 10,000 times.
        self._schemas: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._written_keys: dict[tuple[str, str, str, frozenset[str]], frozenset[str]] = {}
        self._auto: dict[tuple[Any, frozenset[str]], list[type[ClientAuthMethod]]] = {}

    def build(self, name: str) -> ProfileConfig:
        """One profile: usable, or marked unusable with what is wrong with it.

        Problems are collected in :attr:`problems` while the profile is built; any makes
        it unusable, with a ConfigError naming each of them. A provider (or its
        ``check_options``) that fails as a plugin makes it unusable with that error.
        """
        self.problems = []
        raw = self.raw_profiles[name]
        assembled = self._assemble(name)
        if assembled is None:
            return self._unusable(name, raw, {}, self._error(name))
        merged, origins = self._preset(name, *assembled)
        plugins = self._resolve_plugins(name, merged, origins)
        if plugins is None:
            return self._unusable(name, merged, origins, self._error(name))
        if isinstance(plugins, PluginError):
            return self._unusable(name, merged, origins, plugins)
        named = self.named_plugins(merged)
        resolved = self._validate(name, merged, origins, plugins, named)
        self._check_urls(name, resolved)
        self._check_cache(name, resolved, named)
        if self.problems:
            return self._unusable(name, merged, origins, self._error(name))
        options = self._wrap_secrets(resolved, plugins.secret_keys, named)
        try:
            self.problems.extend(_provider_problems(plugins.provider, options, f"profiles.{name}"))
        except PluginError as error:
            return self._unusable(name, merged, origins, error)
        if self.problems:
            return self._unusable(name, merged, origins, self._error(name))
        return self._freeze_options(name, plugins, options, origins)

    def _error(self, name: str) -> ConfigError:
        """The profile's own error: every problem found in it, located in the file."""
        return ConfigError(
            problems=self.marks.locate(self.problems), file=self.source, profile=name
        )

    def _preset(
        self, name: str, merged: dict[str, Any], origins: dict[str, str]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """The profile with what its provider's ``preset`` adds under it."""
        provider_name = merged.get("provider")
        if not isinstance(provider_name, str):
            return merged, origins
        try:
            preset = self.plugins.provider(provider_name).preset(merged, self.environ)
        except (PluginError, ProviderNotFoundError):
            return merged, origins  # reported by _resolve_plugins
        except ConfigError as error:
            base = f"profiles.{name}"
            self.problems.extend(
                ConfigProblem(f"{base}.{p.path}" if p.path else base, p.message)
                for p in error.problems
            )
            return merged, origins
        added = {key: value for key, value in preset.items() if key not in merged}
        origin = f"the {provider_name} provider's preset"
        return {**merged, **added}, {**origins, **dict.fromkeys(added, origin)}

    def _resolve_plugins(
        self, name: str, merged: Mapping[str, Any], origins: Mapping[str, str]
    ) -> _Plugins | PluginError | None:
        """The provider and auth methods the profile names (None: a problem was recorded)."""
        base = f"profiles.{name}"
        provider_name = merged.get("provider")
        if not isinstance(provider_name, str) or not provider_name:
            self.problems.append(ConfigProblem(f"{base}.provider", "required, but missing"))
            return None
        try:
            provider = self.plugins.provider(provider_name)
        except ProviderNotFoundError as error:
            # Said again with where it was written: the catalog knows only the name.
            origin = origins.get("provider", base)
            mark = self.marks.of(f"{origin}.provider")
            return ProviderNotFoundError(
                provider_name,
                installed=error.installed,
                profile=name,
                file=self.source,
                suggestion=error.suggestion,
                hint=error.hint,
                line=mark[0] if mark else None,
                column=mark[1] if mark else None,
                origin=origin if origin != base else None,
            )
        except PluginError as error:
            return error
        # grant: jwt_bearer (issue 13): the provider class that sends it.
        provider = with_grant(provider, merged.get("grant"))
        problem = grant_problem(provider, merged)
        if problem is not None:
            self.problems.append(ConfigProblem(f"{base}.{problem.path}", problem.message))
        auth_name = str(merged.get("auth_method") or provider.default_auth_method)
        try:
            methods = self._auth_methods(base, auth_name, provider, merged)
        except PluginLoadError as error:
            return error  # a broken plugin, as for a provider: this profile only
        secret_keys = frozenset(
            CORE_SECRET_OPTIONS.union(provider.secret_options, *(m.secret_options for m in methods))
        )
        return _Plugins(provider_name, provider, auth_name, methods, secret_keys)

    def _validate(
        self,
        name: str,
        merged: Mapping[str, Any],
        origins: Mapping[str, str],
        plugins: _Plugins,
        named: _NamedPlugins,
    ) -> dict[str, Any]:
        """Interpolate, then check against the composed schema and the methods' material."""
        base = f"profiles.{name}"
        before = len(self.problems)
        resolved = self._interpolate(merged, base, plugins.secret_keys, named.cache_secrets)
        self.problems[before:] = _with_origins(self.problems[before:], base, name, origins)
        unresolved = {problem.path for problem in self.problems[before:]}
        schema = self._schema(plugins, named)
        hide = named.hider(plugins.secret_keys)
        found = validate(resolved, schema, base=base, hide=hide)
        # A value whose ${VAR} is unset is said once, not again as "expected a URL".
        found = [p for p in found if not _under(p.path, unresolved)]
        self.problems.extend(_with_origins(found, base, name, origins))
        self._check_material(base, plugins.auth_name, plugins.methods, resolved)
        return resolved

    def _schema(self, plugins: _Plugins, named: _NamedPlugins) -> dict[str, Any]:
        """The composed schema of a profile with these plugins, composed once."""
        key = (plugins.provider, tuple(plugins.methods), plugins.secret_keys, named.key)
        schema = self._schemas.get(key)
        if schema is None:
            schema = self._schemas[key] = profile_schema(
                provider_schema=plugins.provider.options_schema,
                auth_method_properties=[m.options_schema for m in plugins.methods],
                sources=named.sources,
                secret_keys=plugins.secret_keys,
                caches=named.caches,
            )
        return schema

    def named_plugins(self, section: Mapping[str, Any]) -> _NamedPlugins:
        """The secret sources and cache backend ``section`` names, imported (once each)."""
        backend: Any = section.get("cache")
        if isinstance(backend, Mapping):
            backend = backend.get("backend")
        if not isinstance(backend, str) or backend not in self._cache_names:
            backend = None  # memory, a typo or a wrong type: the schema says which
        written = _mapping_keys(section) & self._source_names
        key = (frozenset(written), backend)
        found = self._named.get(key)
        if found is not None:
            return found
        sources: dict[str, Mapping[str, Any]] = {}
        for source in sorted(self._source_names):
            schema = self.plugins.secret_source_schema(source) if source in written else None
            sources[source] = _UNNAMED_SOURCE if schema is None else schema
        caches: dict[str, tuple[Mapping[str, Any], frozenset[str]]] = dict.fromkeys(
            self._cache_names, _UNNAMED_CACHE
        )
        cache_secrets, cache_keys = CACHE_SECRET_OPTIONS, None
        if backend is not None:
            loaded = self.plugins.cache_schema(backend)
            if loaded is None:
                del caches[backend]  # unusable: naming it is an error listing the others
            else:
                caches[backend] = loaded
                cache_secrets = CACHE_SECRET_OPTIONS | loaded[1]
                declared = dict(loaded[0].get("properties", {}))
                cache_keys = frozenset({"backend", "lock_lease", *CACHE_SECRET_OPTIONS, *declared})
        found = self._named[key] = _NamedPlugins(
            key=key,
            sources=sources,
            caches=caches,
            cache_secrets=frozenset(cache_secrets),
            cache_keys=cache_keys,
        )
        return found

    def written_secrets(
        self, name: str, *, inline_only: bool = False
    ) -> list[tuple[str, SecretValue]]:
        """The profile's secrets as written (after defaults and ``extends``), unchecked.

        Neither copies nor validates: a profile whose ``extends`` is broken gives what its
        own section and ``defaults`` say, and one whose provider cannot be loaded, the core
        secret keys; building it reports those problems. ``inline_only``: see
        :meth:`Config.written_secrets`.
        """
        merged: dict[str, Any] = dict(self.defaults)
        layers: list[Mapping[str, Any]] = []
        current: Any = name
        while isinstance(current, str) and current in self.raw_profiles:
            raw = self.raw_profiles[current]
            if not isinstance(raw, Mapping) or any(raw is layer for layer in layers):
                break
            layers.append(raw)
            current = raw.get("extends")
        for raw in reversed(layers):
            merged.update(raw)
        base = f"profiles.{name}"
        found: list[tuple[str, SecretValue]] = []
        written = {
            key: value
            for key, value in merged.items()
            if (isinstance(value, str) and not (inline_only and has_reference(value)))
            or (not inline_only and isinstance(value, Mapping) and len(value) == 1)
        }
        if written.keys() <= _core_keys():
            # No plugin declares a core key a secret: only the core's secret keys can be
            # here, and the profile's plugins need not be imported to say so.
            secret_keys: frozenset[str] = CORE_SECRET_OPTIONS
        else:
            secret_keys = self._secret_keys_written(merged)
        for key in sorted(secret_keys & written.keys()):
            found.append((f"{base}.{key}", _shown_secret(written[key])))
        cache = merged.get("cache")
        if isinstance(cache, Mapping) and not inline_only:
            cache_secrets = self.named_plugins(merged).cache_secrets
            for key, value in cache.items():
                shape = isinstance(value, str) or (isinstance(value, Mapping) and len(value) == 1)
                if key in cache_secrets and shape:
                    found.append((f"{base}.cache.{key}", _shown_secret(value)))
        return found

    def _secret_keys_written(self, merged: Mapping[str, Any]) -> frozenset[str]:
        """The secret keys of a profile naming this provider and auth method, best effort."""
        provider_name, auth_name = merged.get("provider"), merged.get("auth_method")
        grant = merged.get("grant")
        memo = (str(provider_name), str(auth_name), str(grant), frozenset(merged))
        keys = self._written_keys.get(memo)
        if keys is not None:
            return keys
        keys = frozenset(CORE_SECRET_OPTIONS)
        if isinstance(provider_name, str) and provider_name:
            try:
                provider = with_grant(self.plugins.provider(provider_name), grant)
                name = str(auth_name or provider.default_auth_method)
                if name == AUTO:
                    methods = self._auto_methods(provider, merged)
                else:
                    methods = self._load_methods([name])
                keys = keys.union(provider.secret_options, *(m.secret_options for m in methods))
            except PluginError:
                # Building the profile says what is wrong with its provider; until then any
                # key the core does not know may be that provider's secret.
                keys = keys.union(key for key in merged if key not in _core_keys())
        else:
            keys = keys.union(key for key in merged if key not in _core_keys())
        self._written_keys[memo] = keys
        return keys

    def _check_urls(self, name: str, resolved: Mapping[str, Any]) -> None:
        """Refuse credentials in URLs, and plain http unless allowed (RFC 6749 §3.2)."""
        allow = resolved.get("allow_insecure_http") is True
        for key in ("token_url", "issuer"):
            url = resolved.get(key)
            if not isinstance(url, str):
                continue
            problem = userinfo_problem(url)
            if problem is None and url[:7].lower() == "http://":
                problem = insecure_url_problem(url, allow_insecure_http=allow)
            if problem:
                self.problems.append(ConfigProblem(f"profiles.{name}.{key}", problem))

    def _check_cache(self, name: str, resolved: Mapping[str, Any], named: _NamedPlugins) -> None:
        """Refuse a cache that asks for ``encryption_key`` or ``plaintext: true`` (Redis)."""
        cache = resolved.get("cache")
        if not isinstance(cache, Mapping) or named.key[1] is None:
            return
        if cache.get("backend") != named.key[1]:
            return
        options_schema, secret_options = named.caches[named.key[1]]
        settings = cache_settings(cache, secret_options=secret_options)
        if needs_plaintext_opt_in(settings, options_schema):
            self.problems.append(
                ConfigProblem(f"profiles.{name}.cache.encryption_key", PLAINTEXT_PROBLEM)
            )

    def _wrap_secrets(
        self, resolved: Mapping[str, Any], secret_keys: frozenset[str], named: _NamedPlugins
    ) -> dict[str, Any]:
        """Secret keys, and ``cache``'s, as Secret or SecretRef values; ``extends`` dropped."""
        options = {k: (_secret_value(v) if k in secret_keys else v) for k, v in resolved.items()}
        options.pop("extends", None)
        if "cache" in options:
            options["cache"] = _cache_value(
                options["cache"], named.cache_secrets, self._url_passwords
            )
        return options

    def _freeze_options(
        self,
        name: str,
        plugins: _Plugins,
        options: dict[str, Any],
        origins: Mapping[str, str],
    ) -> ProfileConfig:
        """The finished profile: read-only options, and their typed view parsed once."""
        return ProfileConfig(
            name=name,
            provider=plugins.provider_name,
            auth_method=plugins.auth_name,
            options=MappingProxyType(options),
            secret_keys=plugins.secret_keys,
            origins=MappingProxyType(dict(origins)),
            parsed=parse_options(options, secret_keys=plugins.secret_keys),
        )

    def _unusable(
        self,
        name: str,
        merged: Mapping[str, Any],
        origins: Mapping[str, str],
        error: ConfigError | PluginError,
    ) -> ProfileConfig:
        """The profile as written, for listings, marked with the error raised at its use."""
        if not isinstance(merged, Mapping):
            merged = {}
        options = {
            k: (_shown_secret(v) if k in CORE_SECRET_OPTIONS else v) for k, v in merged.items()
        }
        if "cache" in options:
            options["cache"] = _cache_value(
                options["cache"], self.named_plugins(merged).cache_secrets, self._url_passwords
            )
        return ProfileConfig(
            name=name,
            provider=str(merged.get("provider", "")),
            auth_method=str(merged.get("auth_method", "")),
            options=MappingProxyType(options),
            origins=MappingProxyType(dict(origins)),
            unusable=error,
        )

    def _auth_methods(
        self, base: str, name: str, provider: type[Provider], merged: Mapping[str, Any]
    ) -> list[type[ClientAuthMethod]]:
        """The method named, or for ``auto`` the methods the profile may use (see below)."""
        path = f"{base}.auth_method"
        if name == AUTO:
            return self._auto_methods(provider, merged)
        if name not in provider.supported_auth_methods:
            supported = ", ".join(sorted(provider.supported_auth_methods))
            self.problems.append(
                ConfigProblem(
                    path,
                    f"provider {provider.name!r} does not support {name!r} "
                    f"(it supports: {supported}, or auto)",
                )
            )
            return []
        try:
            return [self.plugins.auth_method(name)]
        except PluginLoadError:
            raise  # installed but broken: the profile is unusable, the others still load
        except PluginError as error:
            self.problems.append(ConfigProblem(path, str(error)))
            return []

    def _auto_methods(
        self, provider: type[Provider], merged: Mapping[str, Any]
    ) -> list[type[ClientAuthMethod]]:
        """``auto``'s methods: those the profile has material for, else all supported.

        Only the methods whose material keys the profile writes are imported (issue 15). If
        the profile writes a key none of them (nor the core or the provider) declares, or
        none has all its required keys, every supported method is imported, as before, so
        that the schema and the messages are the same as with all of them.
        """
        supported = provider.supported_auth_methods
        memo = (provider, frozenset(merged))
        found = self._auto.get(memo)
        if found is not None:
            return found
        likely = [
            m
            for m in AUTO_ORDER
            if m in supported and any(key in merged for key in MATERIAL_KEYS.get(m, ()))
        ]
        methods = self._load_methods(sorted(likely))
        if not self._auto_covers(provider, methods, merged):
            methods = self._load_methods(sorted(supported))
        self._auto[memo] = methods
        return methods

    def _load_methods(self, names: Sequence[str]) -> list[type[ClientAuthMethod]]:
        methods = []
        for candidate in names:
            try:
                methods.append(self.plugins.auth_method(candidate))
            except PluginError:
                continue  # a broken method is simply not a candidate
        return methods

    @staticmethod
    def _auto_covers(
        provider: type[Provider], methods: list[type[ClientAuthMethod]], merged: Mapping[str, Any]
    ) -> bool:
        """Whether these methods say what every key of the profile is, and one can run."""
        if not any(
            all(key in merged for key in m.required_options) for m in methods if m.name != "none"
        ):
            return False
        known = set(_core_keys())
        known.update(provider.options_schema.get("properties", {}), provider.secret_options)
        for method in methods:
            known.update(method.options_schema, method.secret_options)
        return all(key in known for key in merged)

    def _check_material(
        self,
        base: str,
        auth_name: str,
        methods: list[type[ClientAuthMethod]],
        resolved: Mapping[str, Any],
    ) -> None:
        """Name the key to add when a method's material is missing, or its extra is."""
        if auth_name == AUTO:
            if not any(
                all(key in resolved for key in m.required_options)
                for m in methods
                if m.name != "none"
            ):
                self.problems.append(
                    ConfigProblem(
                        f"{base}.auth_method",
                        "auto found no client credentials: add client_secret, private_key, "
                        "or client_cert and client_key (or say auth_method: none for a "
                        "public client)",
                    )
                )
            return
        for method in methods:
            for key in method.required_options:
                if key not in resolved:
                    self.problems.append(
                        ConfigProblem(
                            f"{base}.{key}",
                            f"required by auth method {method.name!r}, but missing",
                        )
                    )
            if method.requires_extra and not extra_installed(method.requires_extra):
                self.problems.append(
                    ConfigProblem(
                        f"{base}.auth_method",
                        f"{method.name} needs the {method.requires_extra} extra: "
                        f"pip install '{method.requires_extra}'",
                    )
                )

    def _assemble(self, name: str) -> tuple[dict[str, Any], dict[str, str]] | None:
        """Merge defaults, then each ancestor named by ``extends``, then the profile."""
        chain = [name]
        layers: list[tuple[str, Mapping[str, Any]]] = []
        current = name
        while True:
            raw = self.raw_profiles[current]
            layers.append((current, raw))
            parent = raw.get("extends")
            if parent is None:
                break
            path = f"profiles.{current}.extends"
            if not isinstance(parent, str) or parent not in self.raw_profiles:
                import difflib  # for a suggestion only

                known = [str(k) for k in self.raw_profiles]
                close = difflib.get_close_matches(str(parent), known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                self.problems.append(ConfigProblem(path, f"no profile named {parent!r}{hint}"))
                return None
            if parent in chain:
                cycle = " -> ".join([*chain, parent])
                self.problems.append(ConfigProblem(path, f"extends forms a cycle: {cycle}"))
                return None
            chain.append(parent)
            current = parent
        merged: dict[str, Any] = _copied(dict(self.defaults))
        origins = dict.fromkeys(merged, "defaults")
        for layer, raw in reversed(layers):
            for key, value in raw.items():
                if key == "extends":
                    continue
                if (
                    key in MERGED_KEYS
                    and isinstance(value, Mapping)
                    and isinstance(merged.get(key), Mapping)
                ):
                    merged[key] = {**merged[key], **_copied(dict(value))}
                else:
                    merged[key] = _copied(value)
                origins[key] = f"profiles.{layer}"
        return merged, origins

    def _interpolate(
        self,
        merged: Mapping[str, Any],
        base: str,
        secret_keys: frozenset[str],
        cache_secrets: frozenset[str],
    ) -> dict[str, Any]:
        """``${VAR}`` everywhere except in inline secret strings, which wait for the fetch."""
        resolved: dict[str, Any] = {}
        for key, value in merged.items():
            path = f"{base}.{key}"
            if key in secret_keys and isinstance(value, str):
                resolved[key] = value
            elif key == "cache" and isinstance(value, Mapping):
                resolved[key] = {
                    name: (
                        inner
                        if name in cache_secrets and isinstance(inner, str)
                        else self._interpolate_value(inner, join_path(path, [str(name)]))
                    )
                    for name, inner in value.items()
                }
            else:
                resolved[key] = self._interpolate_value(value, path)
        return resolved

    def _interpolate_value(self, value: Any, path: str) -> Any:
        if isinstance(value, str):
            try:
                return interpolate(value, self.environ)
            except InterpolationError as error:
                self.problems.append(ConfigProblem(path, str(error)))
                return value
        if isinstance(value, Mapping):
            return {
                k: self._interpolate_value(v, join_path(path, [str(k)])) for k, v in value.items()
            }
        if isinstance(value, list):
            return [self._interpolate_value(v, join_path(path, [i])) for i, v in enumerate(value)]
        return value


def _provider_problems(
    provider: type[Provider], options: Mapping[str, Any], base: str
) -> list[ConfigProblem]:
    """What the provider's own :meth:`~tokenrack.oauth.provider.Provider.check_options` refuses.

    Raises:
        PluginError: The provider failed in an unexpected way (a bug in the plugin, which
            makes this profile unusable, as a failed import would, and spares the others).
    """
    try:
        provider(MappingProxyType(dict(options))).check_options()
    except ConfigError as error:
        return [
            ConfigProblem(
                join_path(base, [problem.path]) if problem.path else base, problem.message
            )
            for problem in error.problems
        ]
    except Exception as error:
        raise PluginError(
            f"provider {provider.name!r} failed to check the profile: "
            f"{type(error).__name__}: {error}",
            group="tokenrack.providers",
            name=provider.name,
        ) from error
    return []


def _shown_secret(raw: Any) -> SecretValue:
    """A secret of an unusable profile, masked whatever its shape (it is never used)."""
    if isinstance(raw, str) or (isinstance(raw, Mapping) and len(raw) == 1):
        return _secret_value(raw)
    return Secret(str(raw))


def _under(path: str, prefixes: set[str]) -> bool:
    """Whether ``path`` is one of ``prefixes`` or inside one."""
    return any(path == p or path.startswith((f"{p}.", f"{p}[")) for p in prefixes)


# Scopes warned about in this process: a file loaded again does not repeat the warning.
_WARNED_SCOPES: set[tuple[str, str, str]] = set()


def _warn_about_scopes(source: str, name: str, written: Mapping[str, Any]) -> None:
    """A scope with a space in it is sent as two scopes (RFC 6749 §3.3): say so at load.

    ``name`` is the section the scopes are written in (``profiles.x`` or ``defaults``).
    """
    scopes = written.get("scopes")
    if not isinstance(scopes, list):
        return
    for scope in scopes:
        if isinstance(scope, str) and " " in scope.strip():
            if (source, name, scope) in _WARNED_SCOPES:
                continue
            _WARNED_SCOPES.add((source, name, scope))
            logger.warning(
                "%s: %s.scopes: %r contains a space and will be sent as %d scopes "
                "(scopes are separated by spaces); write them as separate items if you mean "
                "that",
                source,
                name,
                scope,
                len(scope.split()),
            )


def _secret_value(raw: Any) -> SecretValue:
    """An inline secret becomes a Secret; ``${VAR}`` text and ``{source: arg}`` references."""
    if isinstance(raw, str):
        if has_reference(raw):
            return SecretRef(TEMPLATE, raw)
        return Secret(interpolate(raw, {}))
    ((source, argument),) = raw.items()
    return SecretRef(str(source), argument)


def _cache_value(
    raw: Any, secret_names: frozenset[str], passwords: dict[str, Secret] | None = None
) -> Any:
    """The ``cache`` option with its secret keys turned into Secret or SecretRef values.

    A password inside ``url`` (``redis://:pw@host``) is taken out of it and becomes the
    ``password`` secret (the URL's wins over a ``password`` key, as redis-py has it), so
    no repr of the profile shows it. ``passwords`` gives one URL one Secret object across
    profiles, so that they still share one backend (its identity counts inline secrets
    as equal only when they are the same object).
    """
    if not isinstance(raw, Mapping):
        return raw
    value = {
        k: (_shown_secret(v) if k in secret_names and isinstance(v, (str, Mapping)) else v)
        for k, v in raw.items()
    }
    url = value.get("url")
    if "password" in secret_names and isinstance(url, str):
        from tokenrack.cache.redis import split_password  # only for a backend with a password

        value["url"], password = split_password(url)
        if password is not None:
            memo = {} if passwords is None else passwords
            digest = hashlib.sha256(url.encode()).hexdigest()  # not the URL itself
            value["password"] = memo.setdefault(digest, Secret(password))
    return MappingProxyType(value)


_IMMUTABLE = (str, int, float, bool, type(None))


def _copied(value: Any) -> Any:
    """A copy of parsed config data that shares nothing mutable with it.

    What ``copy.deepcopy`` gives for the dicts, lists and scalars YAML yields, at a
    fraction of its cost (no memo); anything else still goes through ``deepcopy``. An
    alias (one list under two keys) becomes two lists, which nothing here tells apart.
    """
    if isinstance(value, _IMMUTABLE):
        return value
    if type(value) is dict:
        return {key: _copied(item) for key, item in value.items()}
    if type(value) is list:
        return [_copied(item) for item in value]
    return copy.deepcopy(value)


_core_key_set: frozenset[str] | None = None


def _core_keys() -> frozenset[str]:
    """The keys every profile may have, whatever its plugins."""
    global _core_key_set
    if _core_key_set is None:
        _core_key_set = frozenset({*core_profile_properties({}), *CORE_SECRET_OPTIONS, "extends"})
    return _core_key_set


def _mapping_keys(value: Any) -> set[str]:
    """Every key of every mapping inside ``value``: the secret sources it may name."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            found.update(key for key in item if isinstance(key, str))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _with_origins(
    problems: list[ConfigProblem], base: str, name: str, origins: Mapping[str, str]
) -> list[ConfigProblem]:
    """Say where an inherited value was set, since the path names the profile using it."""
    annotated = []
    for problem in problems:
        rest = problem.path[len(base) + 1 :]
        key = rest.split(".", 1)[0].split("[", 1)[0]
        origin = origins.get(key)
        if origin and origin != f"profiles.{name}":
            problem = ConfigProblem(problem.path, f"{problem.message} (set in {origin})")
        annotated.append(problem)
    return annotated
