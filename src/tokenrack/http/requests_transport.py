"""The :class:`~tokenrack.oauth.transport.Transport` on requests; the only module that imports it.

One ``requests.Session`` per registry. The session does not trust the environment
(``trust_env = False``): a ``~/.netrc`` must never replace the client's credentials, and a
profile's CA bundle must win over ``REQUESTS_CA_BUNDLE``. The environment is then honoured
explicitly where a profile says nothing: ``*_PROXY``/``NO_PROXY`` for proxies (never for
plain http to a loopback host), and ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` for the CA
bundle.

A send given a deadline (``TransportOptions.deadline``) is over by then, however the server
behaves: a watchdog timer shuts down the sockets the send uses when its time runs out, so a
read blocked on a server that dribbles its headers or body, or never answers at all,
returns at once. Every session's connections hand their sockets to the watch of the send in
flight on their thread (mutual-TLS sessions too); the timer is stopped and joined before
the send returns, so no thread outlives it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import socket
import threading
import time
from dataclasses import replace
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
import requests.adapters
import requests.utils
import urllib3.connection
import urllib3.connectionpool
import urllib3.exceptions

from tokenrack.oauth.message import EncodedRequest, HttpResponse, TransportError
from tokenrack.oauth.transport import ClientCertificate, TransportOptions
from tokenrack.oauth.url_policy import is_loopback_host

__all__ = ["RequestsTransport", "UrlSecretFilter"]

# A query parameter whose name says it holds a credential, as urllib3 writes it in a log.
_SENSITIVE_QUERY = (
    r"(?i)([?&][A-Za-z_.-]*(?:secret|token|assertion|password|key)[A-Za-z_.-]*=)[^&\s\"']*"
)


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    # Compiled at first use (a DEBUG log line or an error), not at every process start.
    return re.compile(pattern)


class UrlSecretFilter(logging.Filter):
    """Masks credential-named query parameters in urllib3's request lines.

    urllib3 logs every request line at DEBUG, query string included. A vendor that takes
    parameters in the query (``params_in: query``) with ``allow_secret_in_query`` would
    have its secret there, so the values of ``client_secret=``, ``*token*=``,
    ``*assertion*=``, ``*password*=`` and ``*key*=`` parameters become ``***`` before any
    handler sees the record. Other parameters are left as they are.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's arguments in place; never drops a record."""
        if isinstance(record.args, tuple) and any(isinstance(a, str) for a in record.args):
            record.args = tuple(
                _compiled(_SENSITIVE_QUERY).sub(r"\1***", a) if isinstance(a, str) else a
                for a in record.args
            )
        if isinstance(record.msg, str):
            record.msg = _compiled(_SENSITIVE_QUERY).sub(r"\1***", record.msg)
        return True


def _install_url_filter() -> None:
    logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, UrlSecretFilter) for f in logger.filters):
        logger.addFilter(UrlSecretFilter())


_install_url_filter()


def _without_query(url: str) -> str:
    """The URL without its query string: answers and errors quote it, never parameters."""
    return urlunsplit(urlsplit(url)._replace(query=""))


def _proxies(url: str, options: TransportOptions) -> dict[str, str]:
    """The proxies for one request: the profile's, else the environment's.

    Never the environment's for plain http to a loopback host: such a URL is allowed
    without ``allow_insecure_http`` only because it never leaves this host, and a proxy
    would carry the request, credentials and all, off it in the clear. The session does
    not trust the environment, so an empty mapping is no proxy at all.
    """
    if options.proxies is not None:
        return dict(options.proxies)
    parts = urlsplit(url)
    if parts.scheme.lower() == "http" and is_loopback_host(parts.hostname or ""):
        return {}
    return requests.utils.get_environ_proxies(url)


def _verify(options: TransportOptions) -> bool | str:
    if options.verify is not True:
        return options.verify
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


# -- the deadline of the send in flight ------------------------------------------------------


class _DeadlineWatch:
    """Cuts one send off when its time runs out, by shutting down the sockets it uses.

    A read timeout bounds each read of a socket, not the answer: a server that sends a byte
    every few seconds never trips it. When the timer fires, every socket handed to
    :meth:`watch` is shut down (and any handed over later, at once), so the read blocked on
    it returns. :meth:`stop` cancels the timer and waits for its thread to end.
    """

    def __init__(self, seconds: float) -> None:
        self.fired = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._stopped = False
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.name = "tokenrack-deadline"
        self._timer.daemon = True

    def start(self) -> None:
        """Start counting."""
        self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        """Shut ``sock`` down when the time runs out (now, if it already has)."""
        with self._lock:
            if self._stopped:
                return
            if not any(s is sock for s in self._sockets):
                self._sockets.append(sock)
            fired = self.fired
        if fired:
            _shut_down(sock)

    def _fire(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self.fired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut_down(sock)

    def stop(self) -> None:
        """Stop the timer and wait for its thread; nothing is shut down after this returns."""
        with self._lock:
            self._stopped = True
        self._timer.cancel()
        if self._timer.ident is not None:  # it was started
            self._timer.join()


def _shut_down(sock: socket.socket) -> None:
    # The plain socket's shutdown even for an SSLSocket: that one's own would drop its TLS
    # state under the feet of the thread reading it; the bare shutdown makes its read end.
    with contextlib.suppress(OSError):  # already closed: nothing is waiting on it
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


# The watch of the send in flight on this thread; connections hand it their sockets. A
# connection is used by one thread at a time, while that thread sends one request.
_in_flight = threading.local()


def _watch_socket(sock: socket.socket | None) -> None:
    watch: _DeadlineWatch | None = getattr(_in_flight, "watch", None)
    if watch is not None and sock is not None:
        watch.watch(sock)


class _WatchedHTTPConnection(urllib3.connection.HTTPConnection):
    """An http connection that hands its socket to the deadline watch of each send."""

    def connect(self) -> None:
        super().connect()
        _watch_socket(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch_socket(self.sock)  # a kept-alive connection, opened by an earlier send
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(urllib3.connection.HTTPSConnection):
    """An https connection that hands its (TLS) socket to the deadline watch of each send.

    The socket is handed over once it is wrapped: during the TLS handshake only the connect
    timeout (capped by the send's deadline, and per read) bounds the wait.
    """

    def connect(self) -> None:
        super().connect()
        _watch_socket(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watch_socket(self.sock)
        super().request(*args, **kwargs)


class _WatchedHTTPPool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class _Adapter(requests.adapters.HTTPAdapter):
    """Connections that honour a send's deadline and can load an encrypted client key."""

    def __init__(self, key_password: str | None = None) -> None:
        self._key_password = key_password
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        if self._key_password is not None:
            kwargs["key_password"] = self._key_password
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        # A SOCKS proxy has pools of its own; there the capped timeouts alone apply.
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager


def _new_session(key_password: str | None = None) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    # Token endpoints have no business setting cookies; none is kept or sent back.
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    adapter = _Adapter(key_password)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class RequestsTransport:
    """Sends token requests with requests: timeouts always set, redirects never followed.

    Requests that present a client certificate (mutual TLS) go through a session of their
    own per certificate, so no other profile's request ever carries it.
    """

    def __init__(self) -> None:
        self._session = _new_session()
        self._mtls: dict[tuple[str, str], requests.Session] = {}
        self._lock = threading.Lock()

    def _session_for(self, cert: ClientCertificate | None) -> requests.Session:
        if cert is None:
            return self._session
        key = (cert.cert_path, cert.key_path)
        with self._lock:
            session = self._mtls.get(key)
            if session is None:
                password = cert.key_password.reveal() if cert.key_password else None
                session = self._mtls[key] = _new_session(password)
            return session

    def send(
        self, request: EncodedRequest, *, options: TransportOptions, sent_at: float
    ) -> HttpResponse:
        """Send once; read at most ``options.max_body`` bytes of the answer.

        With ``options.deadline``, the send is cut off when that many seconds have passed
        (on the real clock), wherever it is, and the timeouts are capped by it.

        Raises:
            TransportError: Connection refused or reset, timeout, TLS failure, an answer
                larger than the cap, or (kind ``deadline``) no complete answer in time.
        """
        budget = options.deadline
        if budget is None:
            return self._send(request, options, sent_at)
        capped = replace(
            options,
            connect_timeout=min(options.connect_timeout, budget),
            read_timeout=min(options.read_timeout, budget),
        )
        watch = _DeadlineWatch(budget)
        started = time.monotonic()
        _in_flight.watch = watch
        try:
            watch.start()
            return self._send(request, capped, sent_at)
        except (
            TransportError,
            requests.exceptions.RequestException,
            urllib3.exceptions.HTTPError,
            OSError,
        ) as error:
            too_large = isinstance(error, TransportError) and error.kind == "too_large"
            if not too_large and (watch.fired or time.monotonic() - started >= budget):
                raise TransportError(
                    "deadline",
                    f"no complete answer in the {budget:.3g}s left; connection closed",
                    retryable=False,
                ) from None
            raise
        finally:
            _in_flight.watch = None
            watch.stop()

    def _send(
        self, request: EncodedRequest, options: TransportOptions, sent_at: float
    ) -> HttpResponse:
        proxies = _proxies(request.url, options)
        try:
            cert = options.client_cert
            response = self._session_for(cert).request(
                request.method,
                request.url,
                headers=request.headers,
                data=request.body or None,
                timeout=(options.connect_timeout, options.read_timeout),
                verify=_verify(options),
                cert=(cert.cert_path, cert.key_path) if cert else None,
                proxies=proxies,
                allow_redirects=False,
                stream=True,
            )
        except requests.exceptions.SSLError as error:
            reason = _reason(error)
            if "WRONG_VERSION_NUMBER" in reason:
                # What an https:// URL meets when the server speaks plain HTTP on that port.
                reason += " (does the server speak plain http on this port? check the URL's scheme)"
            raise TransportError("tls", f"TLS failure: {reason}", retryable=False) from None
        except requests.exceptions.ConnectTimeout:
            raise TransportError("timeout", "connect timed out", retryable=True) from None
        except requests.exceptions.ReadTimeout:
            raise TransportError("timeout", "read timed out", retryable=True) from None
        except requests.exceptions.ConnectionError as error:
            raise TransportError("connect", _reason(error), retryable=True) from None
        except requests.exceptions.RequestException as error:
            raise TransportError("other", _reason(error), retryable=False) from None
        with response:
            body = self._read(response, options.max_body)
        return HttpResponse(
            status=response.status_code,
            headers={k.lower(): v for k, v in response.headers.items()},
            body=body,
            url=_without_query(request.url),
            sent_at=sent_at,
        )

    @staticmethod
    def _read(response: requests.Response, limit: int) -> bytes:
        try:
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_content(chunk_size=64 * 1024):
                size += len(chunk)
                if size > limit:
                    # Closing instead of draining: the rest is never read.
                    response.raw.close()
                    raise TransportError(
                        "too_large",
                        f"answer larger than {limit // 1024} KiB; connection closed",
                        retryable=False,
                    )
                chunks.append(chunk)
            return b"".join(chunks)
        except requests.exceptions.ConnectionError as error:
            raise TransportError(
                "reset", f"connection lost while reading: {_reason(error)}", retryable=True
            ) from None
        except (
            requests.exceptions.ChunkedEncodingError,
            urllib3.exceptions.ProtocolError,
        ) as error:
            raise TransportError(
                "reset", f"answer cut short: {_reason(error)}", retryable=True
            ) from None
        except requests.exceptions.Timeout:
            raise TransportError("timeout", "read timed out", retryable=True) from None

    def close(self) -> None:
        """Close every session's connections."""
        with self._lock:
            sessions, self._mtls = [self._session, *self._mtls.values()], {}
        for session in sessions:
            session.close()


_QUERY = r"\?[^\s'\")]*"


def _causes(error: BaseException) -> list[BaseException]:
    """``error`` and everything it wraps (urllib3 keeps the cause in ``reason``)."""
    seen: list[BaseException] = []
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop(0)
        if any(current is s for s in seen):
            continue
        seen.append(current)
        for inner in (
            getattr(current, "reason", None),
            current.__cause__,
            current.__context__,
            *current.args,
        ):
            if isinstance(inner, BaseException):
                pending.append(inner)
    return seen


def _reason(error: BaseException) -> str:
    """A short reason for a failure, without the request's query string or headers.

    The innermost operating-system error says it best ("Connection refused"); failing
    that, the text of the error with any query string cut out, since a vendor that takes
    parameters in the query would otherwise have its credentials quoted.
    """
    for cause in reversed(_causes(error)):
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
    text = _compiled(_QUERY).sub("?…", str(error) or type(error).__name__)
    return text if len(text) <= 300 else text[:297] + "..."
