"""A profile made runnable: its provider, auth method, secrets, settings and cache key."""

from __future__ import annotations

import logging
import os
import random
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tokenrack.auth_method import ClientAuthMethod, ClientCredentials
from tokenrack.cache_key import cache_key
from tokenrack.clock import Clock
from tokenrack.errors import (
    InvalidClientError,
    PluginError,
    SecretError,
    TokenError,
    TokenrackError,
    UnauthorizedClientError,
)
from tokenrack.flow import FetchResult, FetchSettings, drive, fetch_steps
from tokenrack.interpolate import InterpolationError, interpolate
from tokenrack.message import TokenRequest
from tokenrack.provider import Provider
from tokenrack.refresh import CachedToken, RefreshWindows
from tokenrack.retry import RetryPolicy
from tokenrack.secret import Secret, SecretRef
from tokenrack.transport import Transport, TransportOptions

if TYPE_CHECKING:
    from tokenrack.config import ProfileConfig
    from tokenrack.plugins import PluginCatalog

__all__ = ["ProfileRuntime", "retry_policy", "transport_options"]

logger = logging.getLogger("tokenrack.fetch")


def transport_options(options: Mapping[str, Any]) -> TransportOptions:
    """Timeouts, TLS and proxies from a profile's options."""
    timeout = options.get("timeout", {})
    if isinstance(timeout, (int, float)):
        connect = read = float(timeout)
    else:
        connect = float(timeout.get("connect", 5))
        read = float(timeout.get("read", 10))
    verify: bool | str = True
    if options.get("verify") is False:
        verify = False
    elif options.get("ca_bundle"):
        verify = os.path.expanduser(str(options["ca_bundle"]))
    proxies = options.get("proxies")
    return TransportOptions(
        connect_timeout=connect,
        read_timeout=read,
        verify=verify,
        proxies=dict(proxies) if proxies else None,
    )


def retry_policy(options: Mapping[str, Any]) -> RetryPolicy:
    """The retry policy from a profile's ``retries``."""
    retries = options.get("retries", {})
    return RetryPolicy(
        attempts=int(retries.get("attempts", 4)),
        backoff=float(retries.get("backoff", 0.5)),
        max_backoff=float(retries.get("max_backoff", 8)),
    )


class ProfileRuntime:
    """Everything needed to fetch one profile's token, built at its first use.

    Args:
        config: The validated profile.
        source: The config file, for messages.
        catalog: Installed plugins (the provider, auth method and secret sources).
        transport: Sends requests.
        clock: Time and sleep.
        rng: Randomness for backoff.
        jitter: This process's refresh jitter draw, in [0, 1).

    Raises:
        PluginError: The profile's provider or auth method cannot be loaded.
    """

    def __init__(
        self,
        config: ProfileConfig,
        *,
        source: str,
        catalog: PluginCatalog,
        transport: Transport,
        clock: Clock,
        rng: random.Random,
        jitter: float,
    ) -> None:
        if config.unusable is not None:
            raise config.unusable
        self.name = config.name
        self.config = config
        self.source = source
        self._catalog = catalog
        self._transport = transport
        self._clock = clock
        self._rng = rng
        options = config.options
        self.provider: Provider = catalog.provider(config.provider)(options)
        self.auth_method: ClientAuthMethod = catalog.auth_method(config.auth_method)()
        self.cache_key_parts = dict(self.provider.cache_key_parts())
        self.cache_key = cache_key(self.cache_key_parts)
        self.transport_options = transport_options(options)
        self.retry_policy = retry_policy(options)
        self.windows = RefreshWindows(
            refresh_before=options.get("refresh_before"),
            must_refresh_before=options.get("must_refresh_before"),
            jitter=jitter,
        )
        self._secrets: dict[str, Secret] | None = None
        self._secrets_lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"ProfileRuntime(name={self.name!r}, provider={self.config.provider!r}, "
            f"auth_method={self.config.auth_method!r})"
        )

    # -- secrets -------------------------------------------------------------------------

    def secrets(self) -> dict[str, Secret]:
        """Resolve the profile's secrets, once, at the first fetch.

        Raises:
            SecretError: A secret cannot be read; names the file, profile and key.
        """
        with self._secrets_lock:
            if self._secrets is None:
                self._secrets = {
                    key: self._resolve(key, value)
                    for key, value in self.config.options.items()
                    if key in self.config.secret_keys
                }
            return dict(self._secrets)

    def forget_secrets(self) -> None:
        """Read the secrets again at the next fetch (after the server rejected them)."""
        with self._secrets_lock:
            self._secrets = None

    def _resolve(self, key: str, value: Any) -> Secret:
        return self.resolve_secret(key, value)

    def resolve_secret(self, key: str, value: Any) -> Secret:
        """Resolve one secret value of this profile (a nested one, e.g. ``cache.password``).

        Args:
            key: Where it sits in the profile, for messages (``cache.encryption_key``).
            value: A ``Secret`` or ``SecretRef`` from the loaded profile.

        Raises:
            SecretError: It cannot be read; names the file, profile and key.
        """
        path = f"profiles.{self.name}.{key}"
        if isinstance(value, Secret):
            return value
        if not isinstance(value, SecretRef):  # pragma: no cover - the loader guarantees it
            raise SecretError("not a secret value", file=self.source, profile=self.name, path=path)
        try:
            if value.source == "template":
                return Secret(interpolate(str(value.argument), os.environ))
            return Secret(self._catalog.secret_source(value.source).resolve(value.argument))
        except InterpolationError as error:
            raise SecretError(str(error), file=self.source, profile=self.name, path=path) from None
        except SecretError as error:
            raise SecretError(
                error.problems[0].message, file=self.source, profile=self.name, path=path
            ) from None
        except PluginError as error:
            raise SecretError(
                f"secret source {value.source!r} is unavailable: {error}",
                file=self.source,
                profile=self.name,
                path=path,
            ) from None

    # -- fetching ------------------------------------------------------------------------

    def _credentials(self, secrets: Mapping[str, Secret]) -> ClientCredentials:
        return ClientCredentials(
            profile=self.name,
            client_id=str(self.config.options.get("client_id", "")),
            client_secret=secrets.get("client_secret"),
            options=self.config.options,
            secrets={k: v for k, v in secrets.items() if k in self.auth_method.secret_options},
        )

    def refresh(self, reason: str) -> CachedToken:
        """Fetch a new token from the endpoint and place it in its refresh windows.

        Raises:
            TokenError: The token could not be obtained (the profile is named in it).
            ConfigError: A secret is missing or the token URL is refused.
            PluginError: The provider failed in an unexpected way.
        """
        result = self.fetch(reason)
        return self.windows.entry(
            result.token, obtained_at=result.obtained_at, lifetime=result.lifetime
        )

    def fetch(self, reason: str) -> FetchResult:
        """Fetch a new token from the endpoint (no caching).

        Raises:
            TokenError: The token could not be obtained (the profile is named in it).
            ConfigError: A secret is missing or the token URL is refused.
            PluginError: The provider failed in an unexpected way.
        """
        clock = self._clock
        started = clock.monotonic()
        url = self.cache_key_parts.get("token_url", "?")
        logger.info("fetching token for profile %s from %s (reason: %s)", self.name, url, reason)
        try:
            secrets = self.secrets()
            client = self._credentials(secrets)

            def authenticate(request: TokenRequest) -> TokenRequest:
                return self.auth_method.authenticate(request, client)

            settings = FetchSettings(
                authenticate=authenticate,
                policy=self.retry_policy,
                clock=clock,
                rng=self._rng,
                allow_insecure_http=self.config.options.get("allow_insecure_http") is True,
                profile=self.name,
                source=self.source,
                known_secrets=tuple(secret.reveal() for secret in secrets.values()),
            )
            provider_secrets = {
                k: v for k, v in secrets.items() if k in self.provider.secret_options
            }
            steps = fetch_steps(self.provider.token_flow(provider_secrets), settings)
            result = drive(
                steps, transport=self._transport, options=self.transport_options, clock=clock
            )
        except TokenError as error:
            error.profile = self.name
            if isinstance(error, (InvalidClientError, UnauthorizedClientError)):
                self.forget_secrets()
            logger.warning(
                "token fetch for profile %s failed after %.0f ms: %s",
                self.name,
                (clock.monotonic() - started) * 1000,
                error,
            )
            raise
        except TokenrackError:
            raise
        except Exception as error:
            raise PluginError(
                f"profile {self.name!r}: provider {self.config.provider!r} failed: "
                f"{type(error).__name__}: {error}",
                group="tokenrack.providers",
                name=self.config.provider,
            ) from error
        logger.info(
            "got token for profile %s: HTTP %d in %.0f ms, %d attempt(s), expires in %.0fs",
            self.name,
            result.status,
            (clock.monotonic() - started) * 1000,
            result.attempts,
            result.lifetime,
        )
        return result
