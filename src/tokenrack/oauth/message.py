"""The sans-I/O messages that travel between providers and the transport.

A provider builds a :class:`TokenRequest` and parses an :class:`HttpResponse`; it never
opens a socket. Secret values in a request stay wrapped in :class:`~tokenrack.secret.value.Secret`
until :meth:`TokenRequest.encode` is called by the transport, so a request can be logged,
explained or compared without revealing anything.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal
from urllib.parse import urlencode, urlsplit, urlunsplit

from tokenrack.secret.value import Secret

__all__ = ["EncodedRequest", "FormValue", "HttpResponse", "TokenRequest", "TransportError"]

FormValue = str | Secret
"""A form field or header value: plain, or a secret revealed only when encoded."""

REDACTED = "***"


def _reveal(value: FormValue) -> str:
    return value.reveal() if isinstance(value, Secret) else value


def _shown(value: FormValue) -> str:
    return REDACTED if isinstance(value, Secret) else value


@dataclass(frozen=True, slots=True)
class EncodedRequest:
    """A request ready for the wire; it holds secrets in the clear, so it is never logged.

    Its repr shows only the method: the URL may carry secrets in its query
    (``params_in: query``), and a traceback's frame locals are recorded by their repr.
    """

    method: str
    url: str = field(repr=False)
    headers: dict[str, str] = field(repr=False)
    body: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """A token request as a provider and an auth method build it.

    Attributes:
        url: The token endpoint.
        form: The parameters, in order; a name may repeat (e.g. ``resource``, RFC 8707).
        headers: Extra headers, in order; names compare case-insensitively.
        method: The HTTP method (``POST`` for every token endpoint we know).
        body_format: ``form`` (RFC 6749) or ``json`` (some vendors; a name ending in ``[]``
            is always a JSON array, under the name without it).
        params_in: ``body`` (RFC 6749) or ``query`` (the parameters go in the URL).
        authenticate: False when the request carries its own credentials (e.g. a JWT-bearer
            grant) and no client authentication method must be applied.
    """

    url: str
    form: tuple[tuple[str, FormValue], ...] = ()
    headers: tuple[tuple[str, FormValue], ...] = ()
    method: str = "POST"
    body_format: Literal["form", "json"] = "form"
    params_in: Literal["body", "query"] = "body"
    authenticate: bool = True

    def with_form(self, *pairs: tuple[str, FormValue]) -> TokenRequest:
        """Return a copy with ``pairs`` appended to the form."""
        return replace(self, form=self.form + tuple(pairs))

    def without_form(self, *names: str) -> TokenRequest:
        """Return a copy without any form field named in ``names``."""
        return replace(self, form=tuple(p for p in self.form if p[0] not in names))

    def with_header(self, name: str, value: FormValue) -> TokenRequest:
        """Return a copy with header ``name`` set to ``value`` (replacing any of that name)."""
        lowered = name.lower()
        kept = tuple(h for h in self.headers if h[0].lower() != lowered)
        return replace(self, headers=(*kept, (name, value)))

    def form_values(self, name: str) -> list[FormValue]:
        """Every value of form field ``name``, in order."""
        return [value for key, value in self.form if key == name]

    def form_value(self, name: str) -> FormValue | None:
        """The first value of form field ``name``, or None when absent."""
        values = self.form_values(name)
        return values[0] if values else None

    def header(self, name: str) -> FormValue | None:
        """The value of header ``name`` (case-insensitive), or None when absent."""
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None

    def redacted_form(self) -> list[tuple[str, str]]:
        """The form with every secret value shown as ``***``."""
        return [(key, _shown(value)) for key, value in self.form]

    def redacted_headers(self) -> list[tuple[str, str]]:
        """The headers with every secret value shown as ``***``."""
        return [(key, _shown(value)) for key, value in self.headers]

    def secrets(self) -> tuple[Secret, ...]:
        """Every secret the request carries, still wrapped, so callers can scrub echoes."""
        return tuple(
            value for _, value in (*self.form, *self.headers) if isinstance(value, Secret) and value
        )

    def secret_values(self) -> list[str]:
        """Every secret value the request carries, so callers can scrub echoes of them."""
        return [
            value.reveal()
            for _, value in (*self.form, *self.headers)
            if isinstance(value, Secret) and value.reveal()
        ]

    def encode(self) -> EncodedRequest:
        """Build the wire form; the only place a request's secrets are revealed."""
        headers = {key: _reveal(value) for key, value in self.headers}
        pairs = [(key, _reveal(value)) for key, value in self.form]
        url = self.url
        body = b""
        if self.method == "GET" or self.params_in == "query":
            url = _with_query(url, pairs)
        elif self.body_format == "json":
            body = json.dumps(_json_object(pairs)).encode()
            headers.setdefault("Content-Type", "application/json")
        else:
            body = urlencode(pairs).encode("ascii")
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        headers.setdefault("Accept", "application/json")
        return EncodedRequest(self.method, url, headers, body)

    def redacted_url(self) -> str:
        """The URL as sent, with secret query parameters (``params_in: query``) masked."""
        if self.method != "GET" and self.params_in != "query":
            return self.url
        return _with_query(self.url, self.redacted_form())


def _with_query(url: str, pairs: Iterable[tuple[str, str]]) -> str:
    parts = urlsplit(url)
    extra = urlencode(list(pairs))
    query = f"{parts.query}&{extra}" if parts.query and extra else parts.query or extra
    return urlunsplit(parts._replace(query=query))


def _json_object(pairs: Iterable[tuple[str, str]]) -> dict[str, str | list[str]]:
    body: dict[str, str | list[str]] = {}
    for key, value in pairs:
        if key.endswith("[]"):  # always an array, even of one (e.g. Google's ``scope``)
            listed = body.setdefault(key[:-2], [])
            if isinstance(listed, list):
                listed.append(value)
            continue
        if key not in body:
            body[key] = value
            continue
        previous = body[key]
        body[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
    return body


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """An answer from the token endpoint, as the transport read it.

    Attributes:
        status: The HTTP status code.
        headers: The response headers, names lower-cased.
        body: The body, at most the transport's cap (1 MiB); never shown by ``repr``.
        url: The URL the request was sent to, without its query string (which may hold
            parameters a vendor wants there, never to be quoted in an error).
        sent_at: When the request was sent, in epoch seconds on this host's clock;
            lifetimes are counted from here.
    """

    status: int
    headers: Mapping[str, str]
    body: bytes = field(repr=False)
    url: str
    sent_at: float

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (case-insensitive), or None when absent."""
        return self.headers.get(name.lower())

    @property
    def media_type(self) -> str:
        """The content type without parameters, lower-cased (``""`` when absent)."""
        raw = self.headers.get("content-type", "")
        return raw.split(";", 1)[0].strip().lower()


class TransportError(Exception):
    """One attempt failed before a complete answer arrived (internal to the core).

    Attributes:
        kind: ``connect``, ``timeout``, ``reset``, ``tls``, ``too_large``, ``deadline``
            (the send's share of the fetch's deadline ran out; never retried) or ``other``.
        retryable: Whether another attempt may succeed.
    """

    def __init__(self, kind: str, message: str, *, retryable: bool) -> None:
        self.kind = kind
        self.retryable = retryable
        super().__init__(message)
