"""The :class:`~tokenrack.transport.Transport` built on requests; the only module that imports it.

One ``requests.Session`` per registry. The session does not trust the environment
(``trust_env = False``): a ``~/.netrc`` must never replace the client's credentials, and a
profile's CA bundle must win over ``REQUESTS_CA_BUNDLE``. The environment is then honoured
explicitly where a profile says nothing: ``*_PROXY``/``NO_PROXY`` for proxies, and
``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` for the CA bundle.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
import requests.adapters
import requests.utils
import urllib3.exceptions

from tokenrack.message import EncodedRequest, HttpResponse, TransportError
from tokenrack.transport import ClientCertificate, TransportOptions

__all__ = ["RequestsTransport", "UrlSecretFilter"]

# A query parameter whose name says it holds a credential, as urllib3 writes it in a log.
_SENSITIVE_QUERY = re.compile(
    r"(?i)([?&][A-Za-z_.-]*(?:secret|token|assertion|password|key)[A-Za-z_.-]*=)[^&\s\"']*"
)


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
                _SENSITIVE_QUERY.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args
            )
        if isinstance(record.msg, str):
            record.msg = _SENSITIVE_QUERY.sub(r"\1***", record.msg)
        return True


def _install_url_filter() -> None:
    logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, UrlSecretFilter) for f in logger.filters):
        logger.addFilter(UrlSecretFilter())


_install_url_filter()


def _without_query(url: str) -> str:
    """The URL without its query string: answers and errors quote it, never parameters."""
    return urlunsplit(urlsplit(url)._replace(query=""))


def _verify(options: TransportOptions) -> bool | str:
    if options.verify is not True:
        return options.verify
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


class _KeyPasswordAdapter(requests.adapters.HTTPAdapter):
    """An adapter whose connections can load an encrypted client key (requests cannot)."""

    def __init__(self, key_password: str | None) -> None:
        self._key_password = key_password
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        if self._key_password is not None:
            kwargs["key_password"] = self._key_password
        super().init_poolmanager(*args, **kwargs)


def _new_session(key_password: str | None = None) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    # Token endpoints have no business setting cookies; none is kept or sent back.
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    if key_password is not None:
        session.mount("https://", _KeyPasswordAdapter(key_password))
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

        Raises:
            TransportError: Connection refused or reset, timeout, TLS failure, or an
                answer larger than the cap.
        """
        proxies = (
            dict(options.proxies)
            if options.proxies is not None
            else (requests.utils.get_environ_proxies(request.url))
        )
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
            raise TransportError("tls", f"TLS failure: {_reason(error)}", retryable=False) from None
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


_QUERY = re.compile(r"\?[^\s'\")]*")


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
    text = _QUERY.sub("?…", str(error) or type(error).__name__)
    return text if len(text) <= 300 else text[:297] + "..."
