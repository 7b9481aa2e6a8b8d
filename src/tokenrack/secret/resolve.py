"""Resolving a profile's secrets: once at its first use, again after a refusal.

A profile's secret options hold a literal :class:`~tokenrack.secret.value.Secret` or a
:class:`~tokenrack.secret.value.SecretRef` naming a secret source (``env``, ``file``, the
core's ``template``, …). :class:`SecretResolver` asks the named source, keeps the values
until told to forget them (the server refused the client: the secret may have been
rotated), and reports any failure under the file, profile and option it came from.

The built-in ``env`` and ``file`` sources are given the context the reference was written
in (:class:`~tokenrack.secret.sources.SecretContext`): the registry's ``environ=`` mapping,
and the config file's directory, against which a relative ``{file: …}`` path is resolved.
The same directory anchors a relative path written literally in a key-material option
(``private_key: keys/billing.pem``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from tokenrack.errors import PluginError, SecretError
from tokenrack.secret.sources import SecretContext, SecretSource, anchored_path
from tokenrack.secret.value import Secret, SecretRef, SecretValue

__all__ = ["SecretResolver", "SourceLookup"]

SourceLookup = Callable[[str], SecretSource]
"""The secret source registered under a name; raises PluginError when there is none."""


class SecretResolver:
    """One profile's secrets, resolved through their sources and kept until forgotten.

    Thread-safe: concurrent first uses resolve each secret once.

    Args:
        profile: The profile's name, for messages.
        source: The config file, for messages.
        values: The profile's secret options as loaded (``client_secret``, …).
        sources: Finds a secret source by name.
        environ: The environment ``{env: …}`` reads (``os.environ`` when None).
        directory: The directory relative paths are resolved against (the config file's;
            None: the current directory).
        path_options: Options whose literal value may be a file path rather than the
            material itself (``private_key``, ``client_cert``, …): a relative one is
            resolved against ``directory``.
        rotating: Options read again at every :meth:`secrets` call, never kept (an
            assertion a platform rewrites); :meth:`binding` names their source instead.
    """

    def __init__(
        self,
        *,
        profile: str,
        source: str,
        values: Mapping[str, SecretValue],
        sources: SourceLookup,
        environ: Mapping[str, str] | None = None,
        directory: str | None = None,
        path_options: frozenset[str] = frozenset(),
        rotating: frozenset[str] = frozenset(),
    ) -> None:
        self.profile = profile
        self.source = source
        self._values = dict(values)
        self._sources = sources
        self._environ = environ
        self._directory = directory
        self._path_options = path_options
        self._rotating = rotating
        self._lock = threading.Lock()
        self._resolved: dict[str, Secret] | None = None

    def __repr__(self) -> str:
        return f"SecretResolver(profile={self.profile!r}, keys={sorted(self._values)!r})"

    def secrets(self) -> dict[str, Secret]:
        """Every secret option of the profile, resolved at the first call and then kept.

        A rotating option is read again at every call, outside the lock.

        Raises:
            SecretError: A secret cannot be read; names the file, profile and key.
        """
        kept = self._kept()
        for key, value in self._values.items():
            if key in self._rotating:
                kept[key] = self.resolve(key, value)
        return kept

    def _kept(self) -> dict[str, Secret]:
        """The options that do not rotate, resolved at the first call and then kept."""
        with self._lock:
            if self._resolved is None:
                self._resolved = {
                    key: self.resolve(key, value)
                    for key, value in self._values.items()
                    if key not in self._rotating
                }
            return dict(self._resolved)

    def binding(self) -> dict[str, Secret]:
        """What the credential fingerprint is computed over (no rotating value).

        The kept secrets, and for each rotating option its source's identity (kind and
        argument), never its current value.
        A rotating value changes every hour while the credential (the federated identity the
        source stands for) stays the same: binding the value would orphan every cached token
        at each rotation, binding the source still keeps profiles that read other files apart.

        Raises:
            SecretError: A kept secret cannot be read.
        """
        bound = self._kept()
        for key, value in self._values.items():
            if key in self._rotating:
                bound[key] = Secret("rotating-source:" + _identity(value))
        return bound

    def forget(self) -> None:
        """Read the secrets again at the next :meth:`secrets` call."""
        with self._lock:
            self._resolved = None

    def resolve(self, key: str, value: Any) -> Secret:
        """Resolve one secret value of the profile (a nested one too: ``cache.password``).

        Not kept: each call asks the source again.

        Args:
            key: Where it sits in the profile, for messages (``cache.encryption_key``).
            value: A ``Secret`` or ``SecretRef`` from the loaded profile.

        Raises:
            SecretError: It cannot be read; names the file, profile and key.
        """
        if isinstance(value, Secret):
            return self._anchored(key, value)
        if not isinstance(value, SecretRef):  # pragma: no cover - the loader guarantees it
            raise self._error(key, "not a secret value")
        try:
            found = self._sources(value.source)
            resolve_in = getattr(found, "resolve_in", None)
            if resolve_in is None:
                return Secret(found.resolve(value.argument))
            context = SecretContext(
                environ=self._environ,
                directory=self._directory,
                location=f"profiles.{self.profile}.{key}",
            )
            return Secret(resolve_in(value.argument, context))
        except SecretError as error:
            raise self._error(key, error.problems[0].message) from None
        except PluginError as error:
            raise self._error(
                key, f"secret source {value.source!r} is unavailable: {error}"
            ) from None

    def _anchored(self, key: str, value: Secret) -> Secret:
        """A literal path in a key-material option, made absolute against the config's directory."""
        if key not in self._path_options or self._directory is None:
            return value
        text = value.reveal().strip()
        if not text or text.startswith("{") or "-----BEGIN" in text:
            return value  # the material itself (PEM or JWK), not a path
        return Secret(anchored_path(text, self._directory))

    def _error(self, key: str, message: str) -> SecretError:
        return SecretError(
            message, file=self.source, profile=self.profile, path=f"profiles.{self.profile}.{key}"
        )


def _identity(value: SecretValue) -> str:
    """A rotating option's source as a stable string: its kind, then its argument as JSON."""
    if isinstance(value, SecretRef):
        return value.source + "\0" + json.dumps(value.argument, sort_keys=True, default=str)
    return "literal\0" + value.reveal()
