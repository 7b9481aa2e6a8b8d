"""Which client auth methods a fetch tries, in order, and what ``auth_method: auto`` learns.

The pure choice is :mod:`tokenrack.auth.selection`'s; this module adds a profile's side: the
method it names (or ``auto``), the material it has, what was learned earlier (a pin: in this
process, :class:`AuthPins`, and through the profile's shared cache, :class:`SharedPins`), and
when a refusal lets the next planned method be tried.

A pin only reorders the methods the plan already has (``client_secret_basic`` and
``client_secret_post``): it never adds one and never removes the fallback. A refusal of the
pinned method drops the pin (the client may have been registered again) and the other
planned method is tried once, as on a first fetch.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Protocol

from tokenrack.auth.selection import (
    AUTO,
    SECRET_METHODS,
    NoCommonMethodError,
    ordered_candidates,
    pinned_first,
    plan,
)
from tokenrack.cache.envelope import RecordError
from tokenrack.cache.key import cache_key
from tokenrack.core.endpoint import Endpoint
from tokenrack.errors import CacheError, ConfigError, SecretError, TokenRequestError
from tokenrack.util.log import get_logger

if TYPE_CHECKING:
    from tokenrack.cache.record import RecordCipher

__all__ = ["PIN_TTL", "AuthPins", "AuthPlanner", "PinBackend", "SharedPins", "pin_key"]

logger = get_logger("tokenrack.fetch")

PIN_TTL = 7 * 86400.0
"""Seconds a pin stays in a shared cache: after that one process tries basic again."""

_PIN_FORMAT = 1
_MAX_PIN_BYTES = 1024


class AuthPins:
    """What ``auth_method: auto`` learned by trying, per (token URL, client id), in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pins: dict[tuple[str, str], str] = {}

    def get(self, token_url: str, client_id: str) -> str | None:
        """The method that worked for this endpoint and client, if one was learned."""
        with self._lock:
            return self._pins.get((token_url, client_id))

    def pin(self, token_url: str, client_id: str, method: str) -> None:
        """Remember that ``method`` works for this endpoint and client."""
        with self._lock:
            self._pins[(token_url, client_id)] = method

    def drop(self, token_url: str, client_id: str, method: str) -> bool:
        """Forget the pin if it is ``method`` (which was just refused); whether it was."""
        with self._lock:
            if self._pins.get((token_url, client_id)) != method:
                return False
            del self._pins[(token_url, client_id)]
            return True


class PinBackend(Protocol):
    """The shared cache under :class:`SharedPins` (a guarded backend: it never raises)."""

    def get(self, key: str) -> bytes | None:
        """The stored record, or None."""
        ...

    def set(self, key: str, value: bytes, *, ttl: float) -> bool:
        """Store a record for ``ttl`` seconds; whether it was stored."""
        ...

    def delete(self, key: str) -> bool:
        """Delete a record; whether there was one."""
        ...


class SharedPins:
    """``auto``'s pins in a profile's shared cache, so the next process skips a refused try.

    A pin is not a secret, but whoever can write the cache can write it, so it is read as
    untrusted input: a record that is not exactly ``{"format": 1, "method": …}`` naming
    ``client_secret_basic`` or ``client_secret_post`` is ignored, and the planner only lets
    it reorder the methods it planned anyway. The worst a planted pin can do is cost one
    refused request, after which the pin is replaced. With an ``encryption_key`` the method
    is sealed (AES-256-GCM, bound to the token URL and client id) and an unsealed record is
    ignored, as for shared metadata; without one (a ``file`` cache, or ``plaintext: true``)
    the pin is stored plain.

    Args:
        cache: The guarded shared cache.
        cipher: Makes the record cipher (the profile's ``encryption_key``); None when the
            cache has no key. When it raises CacheError or SecretError, pins are not shared.
    """

    def __init__(
        self, cache: PinBackend, cipher: Callable[[], RecordCipher | None] | None = None
    ) -> None:
        self._cache = cache
        self._cipher = cipher

    def __repr__(self) -> str:
        return f"SharedPins(sealed={self._cipher is not None})"

    def load(self, token_url: str, client_id: str) -> str | None:
        """The method another process pinned for this endpoint and client, or None."""
        data = self._cache.get(pin_key(token_url, client_id))
        if data is None:
            return None
        sealed, cipher = self._mode()
        if sealed and cipher is None:
            return None
        try:
            if len(data) > _MAX_PIN_BYTES:
                raise RecordError(f"larger than {_MAX_PIN_BYTES} bytes")
            record = json.loads(data)
            if not isinstance(record, dict) or record.get("format") != _PIN_FORMAT:
                raise RecordError("not an auth pin record")
            if cipher is not None:
                if set(record) != {"format", "sealed"}:
                    raise RecordError("not sealed with this cache's encryption_key")
                opened = cipher.open(record["sealed"], aad=_pin_aad(token_url, client_id))
                method = json.loads(opened)
            else:
                if set(record) != {"format", "method"}:
                    raise RecordError("not a plain auth pin record")
                method = record["method"]
            if method not in SECRET_METHODS:
                raise RecordError("names no method auto may reorder")
        except (ValueError, UnicodeDecodeError) as error:  # RecordError is a ValueError
            why = str(error) if isinstance(error, RecordError) else "not JSON"
            logger.warning(
                "shared auth_method auto pin for %s is unusable (%s); ignoring it",
                token_url,
                why,
            )
            return None
        return str(method)

    def store(self, token_url: str, client_id: str, method: str) -> None:
        """Share that ``method`` works for this endpoint and client (best effort)."""
        sealed, cipher = self._mode()
        if sealed and cipher is None:
            return
        record: dict[str, object] = {"format": _PIN_FORMAT}
        if cipher is not None:
            record["sealed"] = cipher.seal(
                json.dumps(method).encode(), aad=_pin_aad(token_url, client_id)
            )
        else:
            record["method"] = method
        self._cache.set(pin_key(token_url, client_id), json.dumps(record).encode(), ttl=PIN_TTL)

    def drop(self, token_url: str, client_id: str) -> None:
        """Delete the shared pin (its method was refused)."""
        self._cache.delete(pin_key(token_url, client_id))

    def _mode(self) -> tuple[bool, RecordCipher | None]:
        """Whether pins are sealed here, and the cipher (None when it cannot be made)."""
        if self._cipher is None:
            return False, None
        try:
            return True, self._cipher()
        except (CacheError, SecretError) as error:
            logger.debug("auth_method auto pins are not shared: %s", type(error).__name__)
            return True, None


def pin_key(token_url: str, client_id: str) -> str:
    """The shared cache key of the pin for this endpoint and client (not secret, digested)."""
    return "authpin:" + cache_key({"token_url": token_url, "client_id": client_id})


def _pin_aad(token_url: str, client_id: str) -> str:
    return f"authpin:{token_url}\n{client_id}\nformat {_PIN_FORMAT}"


class AuthPlanner:
    """A profile's auth-method plan: the method it names, or ``auto``'s choice.

    Args:
        profile: The profile's name, for messages.
        source: The config file, for messages.
        configured: The profile's ``auth_method`` (a method's name, or ``auto``).
        supported: The methods the provider supports.
        has_material: Whether the profile has the options a method requires.
        client_id: The profile's client id (pins are per endpoint and client).
        pins: The registry's learned methods.
        shared: The profile's shared cache's pins; None for an in-memory profile.
    """

    def __init__(
        self,
        *,
        profile: str,
        source: str,
        configured: str,
        supported: Collection[str],
        has_material: Callable[[str], bool],
        client_id: str,
        pins: AuthPins,
        shared: SharedPins | None = None,
    ) -> None:
        self._profile = profile
        self._source = source
        self._configured = configured
        self._supported = supported
        self._has_material = has_material
        self._client_id = client_id
        self._pins = pins
        self._shared = shared

    def plan(self, endpoint: Endpoint) -> list[str]:
        """The auth methods to try, in order (more than one only for ``auto`` fallback).

        Raises:
            ConfigError: ``auto`` finds nothing both sides can use.
        """
        if self._configured != AUTO:
            return [self._configured]
        candidates = ordered_candidates(self._supported, self._has_material)
        try:
            public_allowed = "none" in self._supported
            methods = plan(candidates, endpoint.advertised, public_allowed=public_allowed)
        except NoCommonMethodError as error:
            raise ConfigError(
                f"auth_method auto: {error}",
                file=self._source,
                profile=self._profile,
                path=f"profiles.{self._profile}.auth_method",
            ) from None
        if len(methods) < 2:
            return methods
        url = endpoint.token_url
        pinned = self._pins.get(url, self._client_id)
        if pinned is None and self._shared is not None:
            pinned = self._shared.load(url, self._client_id)
            if pinned is not None and pinned != methods[0] and pinned in methods:
                logger.info(
                    "auth_method auto: %s worked for %s (client %s) in another process; "
                    "trying it first",
                    pinned,
                    url,
                    self._client_id,
                )
        return pinned_first(methods, pinned)

    def next_after(
        self, methods: Sequence[str], index: int, error: TokenRequestError, endpoint: Endpoint
    ) -> str | None:
        """The method to try after ``methods[index]`` was refused with ``error``, if any.

        Only a refusal of the client (401 or ``invalid_client``) moves on: never a 5xx, a
        timeout or another error, which would hide an outage behind a second request. A
        refused method that was pinned is unpinned, here and in the shared cache.
        """
        refused = error.status == 401 or error.error == "invalid_client"
        if not refused or len(methods) < 2:
            return None
        url = endpoint.token_url
        self._pins.drop(url, self._client_id, methods[index])
        if index == 0 and methods[0] != SECRET_METHODS[0] and self._shared is not None:
            # Only a pin puts anything but basic first: it was refused, so drop it.
            self._shared.drop(url, self._client_id)
        if index + 1 >= len(methods):
            return None
        following = methods[index + 1]
        logger.info(
            "auth_method auto: %s refused by %s (%s); trying %s once",
            methods[index],
            url,
            error.error,
            following,
        )
        return following

    def worked(self, methods: Sequence[str], name: str, endpoint: Endpoint) -> None:
        """Record that ``name`` got a token; a choice among several is kept from now on.

        After a fallback the method that worked is also shared (the next process, or another
        host of the fleet, then makes no refused attempt).
        """
        if len(methods) < 2:
            return
        url = endpoint.token_url
        previous = self._pins.get(url, self._client_id)
        self._pins.pin(url, self._client_id, name)
        if name != methods[0] and self._shared is not None:
            self._shared.store(url, self._client_id, name)
        if previous != name:
            logger.info(
                "auth_method auto: using %s for %s (client %s) from now on",
                name,
                url,
                self._client_id,
            )
