"""The ``redis`` cache backend: one token per fleet.

The only module that imports the ``redis`` package (the ``tokenrack[redis]`` extra), and
only when a profile first uses this backend: ``import tokenrack`` never does.

Keys: ``<key_prefix>token:<cache key>`` holds the record, with a TTL of the token's
remaining lifetime; ``<key_prefix>lock:<cache key>`` is the refresh lock, taken with
``SET lock <random owner> NX PX <lease>`` and released by a Lua script that deletes it only
if it still holds our owner value (compare-and-delete), so a holder whose lease ran out can
never release the lock of the process that took over.

Every command runs with the configured ``timeout`` on connect and on each read, with no
client-side retries: a slow or dead Redis costs a caller at most that long before the
shared layer gives up on it (and its circuit breaker stops asking for a while). Redis
errors become :class:`~tokenrack.errors.CacheError` naming the server, never its password.
"""

from __future__ import annotations

import contextlib
import secrets as _random
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from tokenrack.errors import CacheError
from tokenrack.secret.value import Secret

if TYPE_CHECKING:
    import redis

__all__ = ["RedisCache", "redact_url"]

# KEYS[1] the lock; ARGV[1] our owner value. Deletes only our own lock.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


def redact_url(url: str) -> str:
    """``url`` without its user name and password, for messages and logs."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    path = parts.path if parts.path not in ("", "/") else ""
    return f"{parts.scheme}://{host}{port}{path}"


class _RedisLock:
    """A held Redis lock: our random owner value on the lock key."""

    __slots__ = ("_cache", "_name", "_owner")

    def __init__(self, cache: RedisCache, name: str, owner: str) -> None:
        self._cache = cache
        self._name = name
        self._owner = owner

    def release(self) -> None:
        """Compare-and-delete: remove the lock only if it is still ours.

        Raises:
            CacheError: Redis did not answer (the lease then ends the lock).
        """
        self._cache._call(lambda client: client.eval(_RELEASE, 1, self._name, self._owner))


class RedisCache:
    """Token records in Redis, shared by every process that can reach it.

    Args:
        options: The profile's ``cache`` options: ``url``, ``key_prefix``, ``timeout``,
            ``username``, ``ca_bundle``, ``client_cert``, ``client_key``.
        secrets: Resolved secret options (``password``).

    Raises:
        CacheError: The ``redis`` package is not installed.
    """

    name: ClassVar[str] = "redis"
    options_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "required": ["url"],
        "properties": {
            "url": {
                "type": "string",
                "pattern": "^(redis|rediss|unix)://",
                "description": "redis://host:port/db, rediss:// for TLS, or unix:///path",
            },
            "key_prefix": {"type": "string"},
            "timeout": {"type": "number", "exclusiveMinimum": 0},
            "username": {"type": "string", "minLength": 1},
            "password": {},
            "ca_bundle": {"type": "string", "minLength": 1},
            "client_cert": {"type": "string", "minLength": 1},
            "client_key": {"type": "string", "minLength": 1},
        },
    }
    secret_options: ClassVar[frozenset[str]] = frozenset({"password"})

    DEFAULT_PREFIX: ClassVar[str] = "tokenrack:"
    DEFAULT_TIMEOUT: ClassVar[float] = 1.0

    def __init__(self, options: Mapping[str, Any], *, secrets: Mapping[str, Secret]) -> None:
        try:
            import redis
        except ImportError:
            raise CacheError(
                "the redis cache needs the redis package: pip install 'tokenrack[redis]'",
                backend=self.name,
            ) from None
        self.url = str(options["url"])
        self.prefix = str(options.get("key_prefix", self.DEFAULT_PREFIX))
        self.timeout = float(options.get("timeout", self.DEFAULT_TIMEOUT))
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        kwargs: dict[str, Any] = {
            "socket_timeout": self.timeout,
            "socket_connect_timeout": self.timeout,
            # The circuit breaker decides when to try again; a client retry would only
            # multiply the time a caller can be held up.
            "retry_on_timeout": False,
            "retry": None,
            "health_check_interval": 0,
        }
        if options.get("username"):
            kwargs["username"] = str(options["username"])
        password = secrets.get("password")
        if password is not None:
            kwargs["password"] = password.reveal()
        if self.url.startswith("rediss://"):
            if options.get("ca_bundle"):
                kwargs["ssl_ca_certs"] = str(options["ca_bundle"])
            if options.get("client_cert"):
                kwargs["ssl_certfile"] = str(options["client_cert"])
            if options.get("client_key"):
                kwargs["ssl_keyfile"] = str(options["client_key"])
        try:
            self._client: redis.Redis = redis.Redis.from_url(self.url, **kwargs)
        except (ValueError, TypeError) as error:
            raise CacheError(
                f"redis cache {redact_url(self.url)}: bad url or options ({error})",
                backend=self.name,
            ) from None

    def __repr__(self) -> str:
        return f"RedisCache({self.describe()!r})"

    def describe(self) -> str:
        """The server (without credentials) and the key prefix."""
        return f"{redact_url(self.url)} (prefix {self.prefix!r})"

    def _call(self, command: Any) -> Any:
        try:
            return command(self._client)
        except self._errors as error:
            # redis-py's messages name host and port at most; never the password.
            raise CacheError(
                f"redis at {redact_url(self.url)}: {type(error).__name__}: {error}",
                backend=self.name,
            ) from None

    def _token_key(self, key: str) -> str:
        return f"{self.prefix}token:{key}"

    def _lock_key(self, key: str) -> str:
        return f"{self.prefix}lock:{key}"

    # -- TokenCache ----------------------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        """``GET`` the record.

        Raises:
            CacheError: Redis failed, timed out, or answered with something not bytes.
        """
        value = self._call(lambda client: client.get(self._token_key(key)))
        if value is not None and not isinstance(value, bytes):
            raise CacheError(
                f"redis at {redact_url(self.url)} answered GET with a {type(value).__name__}",
                backend=self.name,
            )
        return value

    def set(self, key: str, value: bytes, *, ttl: float) -> None:
        """``SET`` the record with ``PX`` = the token's remaining lifetime.

        Raises:
            CacheError: Redis failed or timed out.
        """
        milliseconds = max(1, int(ttl * 1000))
        self._call(lambda client: client.set(self._token_key(key), value, px=milliseconds))

    def delete(self, key: str) -> bool:
        """``DEL`` the record.

        Raises:
            CacheError: Redis failed or timed out.
        """
        return bool(self._call(lambda client: client.delete(self._token_key(key))))

    def try_lock(self, key: str, *, lease: float) -> _RedisLock | None:
        """``SET lock owner NX PX lease``; None when another process holds it.

        Raises:
            CacheError: Redis failed or timed out.
        """
        name = self._lock_key(key)
        owner = _random.token_hex(16)
        milliseconds = max(1, int(lease * 1000))
        taken = self._call(lambda client: client.set(name, owner, nx=True, px=milliseconds))
        return _RedisLock(self, name, owner) if taken else None

    def entries(self) -> Iterator[tuple[str, bytes]]:
        """Every record under this prefix (``SCAN``, then ``GET`` each).

        Raises:
            CacheError: Redis failed or timed out.
        """
        names = self._call(
            lambda client: list(client.scan_iter(match=self._token_key("*"), count=500))
        )
        for name in sorted(names):
            value = self._call(lambda client, name=name: client.get(name))
            if isinstance(value, bytes):
                yield name.decode() if isinstance(name, bytes) else str(name), value

    def close(self) -> None:
        """Close the connection pool."""
        with contextlib.suppress(*self._errors):
            self._client.close()
