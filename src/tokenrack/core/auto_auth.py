"""Which client auth methods a fetch tries, in order, and what ``auth_method: auto`` learns.

The pure choice is :mod:`tokenrack.auth.selection`'s; this module adds a profile's side: the
method it names (or ``auto``), the material it has, what was learned earlier in the process
(:class:`AuthPins`), and when a refusal lets the next planned method be tried.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Sequence

from tokenrack.auth.selection import AUTO, NoCommonMethodError, ordered_candidates, plan
from tokenrack.core.endpoint import Endpoint
from tokenrack.errors import ConfigError, TokenRequestError
from tokenrack.util.log import get_logger

__all__ = ["AuthPins", "AuthPlanner"]

logger = get_logger("tokenrack.fetch")


class AuthPins:
    """What ``auth_method: auto`` learned by trying, per (token URL, client id)."""

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
    ) -> None:
        self._profile = profile
        self._source = source
        self._configured = configured
        self._supported = supported
        self._has_material = has_material
        self._client_id = client_id
        self._pins = pins

    def plan(self, endpoint: Endpoint) -> list[str]:
        """The auth methods to try, in order (more than one only for ``auto`` fallback).

        Raises:
            ConfigError: ``auto`` finds nothing both sides can use.
        """
        if self._configured != AUTO:
            return [self._configured]
        pinned = self._pins.get(endpoint.token_url, self._client_id)
        if pinned is not None:
            return [pinned]
        candidates = ordered_candidates(self._supported, self._has_material)
        try:
            return plan(candidates, endpoint.advertised, public_allowed="none" in self._supported)
        except NoCommonMethodError as error:
            raise ConfigError(
                f"auth_method auto: {error}",
                file=self._source,
                profile=self._profile,
                path=f"profiles.{self._profile}.auth_method",
            ) from None

    def next_after(
        self, methods: Sequence[str], index: int, error: TokenRequestError, endpoint: Endpoint
    ) -> str | None:
        """The method to try after ``methods[index]`` was refused with ``error``, if any.

        Only a refusal of the client (401 or ``invalid_client``) moves on: never a 5xx, a
        timeout or another error, which would hide an outage behind a second request.
        """
        refused = error.status == 401 or error.error == "invalid_client"
        if not refused or index + 1 >= len(methods):
            return None
        following = methods[index + 1]
        logger.info(
            "auth_method auto: %s refused by %s (%s); trying %s once",
            methods[index],
            endpoint.token_url,
            error.error,
            following,
        )
        return following

    def worked(self, methods: Sequence[str], name: str, endpoint: Endpoint) -> None:
        """Record that ``name`` got a token; a choice among several is kept from now on."""
        if len(methods) < 2:
            return
        self._pins.pin(endpoint.token_url, self._client_id, name)
        logger.info(
            "auth_method auto: using %s for %s (client %s) from now on",
            name,
            endpoint.token_url,
            self._client_id,
        )
