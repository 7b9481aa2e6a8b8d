"""Turning a token endpoint's answer into a :class:`~tokenrack.token.Token` (RFC 6749 §5).

Pure functions: they read an :class:`~tokenrack.oauth.message.HttpResponse` and either return a
token or raise :class:`~tokenrack.errors.TokenRequestError` (the server said no) or
:class:`~tokenrack.errors.TokenResponseError` (the answer is not a token). Anything quoted
from a body in an error is redacted first: a malformed answer can still carry a token.
"""

from __future__ import annotations

import base64
import functools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tokenrack.errors import TokenResponseError, error_class_for
from tokenrack.oauth.message import HttpResponse
from tokenrack.secret.scrub import cut
from tokenrack.token import Token
from tokenrack.util.log import get_logger

__all__ = [
    "MAX_LIFETIME",
    "ResponseFields",
    "b64url_decode",
    "decode_body",
    "decode_jws_parts",
    "jwt_claims",
    "parse_token_response",
    "raise_for_error",
    "redact_text",
    "transient_error",
]

logger = get_logger(__name__)

MAX_LIFETIME = 86_400.0
"""Longest lifetime believed (one day): a longer or absurd ``expires_in`` is capped to it."""

_QUOTE_LIMIT = 200
_TEXT_LIMIT = 2048  # a server's error text is cut to this before any pattern runs on it
_CODE_LIMIT = 200  # the RFC 6749 error code
_DETAILS_LIMIT = 32  # vendor fields kept in an error's details
_DETAIL_NAME_LIMIT = 64
_NOT_KEPT = frozenset(
    {"access_token", "token_type", "expires_in", "expires_on", "scope", "refresh_token", "id_token"}
)
_ERROR_FIELDS = frozenset({"error", "error_description", "error_uri"})
TRANSIENT_ERRORS = frozenset({"temporarily_unavailable", "server_error", "internal_failure"})
"""Error codes that say the server, not the request, failed (RFC 6749 §4.1.2.1 defines the
first two; Google also answers ``internal_failure``): another attempt may succeed."""
_TRANSIENT_BODY_LIMIT = 4096  # an error body is short; a long one is not parsed for this
_SENSITIVE_WORDS = ("token", "secret", "assertion", "password", "key")
# Names and values are matched possessively and the name is tested in Python: no pattern
# here backtracks, so redaction stays linear in the text's length.
_JSON_FIELD = r'("([A-Za-z_]++)"\s*+:\s*+)("(?:[^"\\]|\\.)*+(?:"|$)|[^,}\s]++)'
_FORM_FIELD = r"(\b([A-Za-z_]++)=)([^&\s]*+)"
_JWT_SHAPE = r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{8,}+\.[A-Za-z0-9_-]{8,}+\.[A-Za-z0-9_-]*+"
# What an opaque token looks like, and prose rarely does: a run of 12+ token characters
# (RFC 6750's b64token) mixing letters with digits or punctuation, or any run of 20+.
_TOKEN_CHARS = "A-Za-z0-9._~+/=-"
_OPAQUE = (
    rf"(?<![{_TOKEN_CHARS}])(?:(?=[{_TOKEN_CHARS}]*[0-9._~+/=-])(?=[{_TOKEN_CHARS}]*[A-Za-z])"
    rf"[{_TOKEN_CHARS}]{{12,}}|[{_TOKEN_CHARS}]{{20,}})"
)
# In a server's error text (prose, not a raw body) a run of token characters is masked when
# it mixes letters and digits, unless it has a shape error texts use for their own references:
# request and trace ids (UUIDs) and vendor error codes (capitals then digits, AADSTS7000215).
# A URL keeps its address; its query values are judged one by one.
_RUN = rf"(?<![{_TOKEN_CHARS}])[{_TOKEN_CHARS}]{{12,}}+"
_REFERENCE = (
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}[.,;:]?"
    r"|[A-Z]{2,}[0-9]+[.,;:]?"
)
_URL = r"(https?://[^\s?#]*)(\?[^\s#]*)?(#\S*)?"
_QUERY_VALUE = r"=([^&#\s]*)"


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    # Compiled at first use: only an error or a debug log redacts, and a first token
    # should not pay for these patterns (issue 15).
    return re.compile(pattern)


# Names of answer fields that hold credentials, dropped from token.extra (see _credential_like).
_CREDENTIAL_WORDS = (
    "secret",
    "password",
    "passwd",
    "session_key",
    "sessionkey",
    "signature",
    "private",
    "assertion",
    "credential",
    "api_key",
    "apikey",
    "cookie",
    "token",
)
_STANDARD_TOKEN_FIELDS = frozenset({"issued_token_type", "token_type"})


@dataclass(frozen=True, slots=True)
class ResponseFields:
    """Where a vendor puts the token and its lifetime in a success answer.

    Attributes:
        token: The field holding the access token.
        expires_in: The field holding the lifetime.
        expires_in_unit: ``s`` or ``ms``.
        scope_separator: How the ``scope`` field joins scopes.
    """

    token: str = "access_token"
    expires_in: str = "expires_in"
    expires_in_unit: str = "s"
    scope_separator: str = " "


def _sensitive(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SENSITIVE_WORDS)


def redact_text(text: str, secrets: Sequence[str] = (), *, opaque: bool = False) -> str:
    """Mask values that may be credentials in ``text`` before it is quoted.

    Masks each string in ``secrets``; the values of JSON keys and form fields whose names
    mention a token, secret, assertion, password or key; anything shaped like a JWT; and,
    with ``opaque``, anything shaped like an opaque token (for raw bodies, where a token
    may stand anywhere; error texts get a gentler rule, see ``_server_text``). Linear in
    the length of ``text``; callers cut a server's text short first all the same.
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _compiled(_JSON_FIELD).sub(
        lambda m: m.group(1) + '"***"' if _sensitive(m.group(2)) else m.group(0), text
    )
    text = _compiled(_FORM_FIELD).sub(
        lambda m: m.group(1) + "***" if _sensitive(m.group(2)) else m.group(0), text
    )
    text = _compiled(_JWT_SHAPE).sub("***", text)
    return _compiled(_OPAQUE).sub("***", text) if opaque else text


def _looks_opaque(run: str) -> bool:
    if _compiled(_REFERENCE).fullmatch(run):
        return False
    return any(c.isdigit() for c in run) and any(c.isalpha() for c in run)


def _mask_prose_run(match: re.Match[str]) -> str:
    return "***" if _looks_opaque(match.group(0)) else match.group(0)


def _mask_query_value(match: re.Match[str]) -> str:
    value = match.group(1)
    return "=***" if len(value) >= 8 and _looks_opaque(value) else match.group(0)


def _mask_url(match: re.Match[str]) -> str:
    address, query, fragment = match.group(1), match.group(2) or "", match.group(3) or ""
    return (
        address
        + _compiled(_QUERY_VALUE).sub(_mask_query_value, query)
        + ("#***" if fragment else "")
    )


def _server_text(text: str, secrets: Sequence[str], limit: int = _TEXT_LIMIT) -> str:
    """A server's error text, cut short before any pattern runs on it, then redacted.

    Beyond :func:`redact_text`, masks what looks like an opaque token in prose (see
    ``_looks_opaque``), keeping URLs' addresses, trace ids and error codes readable.
    """
    text = redact_text(cut(text, limit), secrets)
    parts = _compiled(_URL).split(text)
    # split() interleaves the text between URLs with each URL's three groups.
    out: list[str] = []
    for index in range(0, len(parts), 4):
        out.append(_compiled(_RUN).sub(_mask_prose_run, parts[index]))
        if index + 1 < len(parts):
            url = "".join(p or "" for p in parts[index + 1 : index + 4])
            out.append(_compiled(_URL).sub(_mask_url, url))
    return "".join(out)


def _quote(response: HttpResponse, secrets: Sequence[str]) -> str:
    text = response.body[: _QUOTE_LIMIT * 4].decode("utf-8", errors="replace")
    text = redact_text(text, secrets, opaque=True)[:_QUOTE_LIMIT]
    return text.replace("\r", " ").replace("\n", " ")


def _not_a_token(
    response: HttpResponse, reason: str, secrets: Sequence[str] = ()
) -> TokenResponseError:
    content_type = response.header("content-type") or "no content type"
    return TokenResponseError(
        f"{reason} (HTTP {response.status}, {content_type}, from {response.url}): "
        f"{_quote(response, secrets)!r}",
        status=response.status,
        content_type=response.header("content-type"),
    )


def decode_body(response: HttpResponse, secrets: Sequence[str] = ()) -> Any:
    """Decode a JSON or form-encoded body.

    Raises:
        TokenResponseError: The body is empty, of another content type, or does not parse.
    """
    media = response.media_type
    if not response.body.strip():
        raise _not_a_token(response, "empty answer from the token endpoint", secrets)
    try:
        text = response.body.decode("utf-8")
    except UnicodeDecodeError:
        raise _not_a_token(response, "answer is not UTF-8 text", secrets) from None
    if media == "application/x-www-form-urlencoded":
        return dict(parse_qsl(text, keep_blank_values=True))
    if media in ("", "application/json", "text/json", "text/plain") or media.endswith("+json"):
        try:
            return json.loads(text)
        except ValueError:
            raise _not_a_token(response, "answer is not valid JSON", secrets) from None
    raise _not_a_token(response, "answer is neither JSON nor form-encoded", secrets)


def transient_error(response: HttpResponse) -> str | None:
    """The error code of a 400 answer whose body says the server failed, else None.

    Some servers (and gateways in front of them) answer an outage with ``400`` and
    ``{"error": "temporarily_unavailable"}`` (or ``server_error``) instead of a 5xx; the
    flow retries those as it retries a 503 (google-auth does the same).
    """
    if response.status != 400 or len(response.body) > _TRANSIENT_BODY_LIMIT:
        return None
    try:
        body = json.loads(response.body)
    except (ValueError, UnicodeDecodeError):
        return None
    code = body.get("error") if isinstance(body, dict) else None
    return code if isinstance(code, str) and code in TRANSIENT_ERRORS else None


def _error_details(body: Mapping[str, Any]) -> dict[str, str]:
    details: dict[str, str] = {}
    for key, value in body.items():
        if len(details) == _DETAILS_LIMIT:
            break
        if key in _ERROR_FIELDS or key in _NOT_KEPT:
            continue
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            text = str(value)
        elif isinstance(value, list) and all(isinstance(v, (str, int)) for v in value):
            text = ",".join(str(v) for v in value[:_DETAILS_LIMIT])
        else:
            continue
        details[cut(key, _DETAIL_NAME_LIMIT)] = cut(text, _TEXT_LIMIT)
    return details


def raise_for_error(response: HttpResponse, body: Any, secrets: Sequence[str] = ()) -> None:
    """Raise the right error when ``body`` is an RFC 6749 §5.2 error or the status is not 2xx.

    Raises:
        TokenRequestError: The answer carries an ``error`` (whatever the status), or the
            status is 4xx without one.
        TokenResponseError: A redirect, or another non-2xx status without an error body.
    """
    if isinstance(body, Mapping) and isinstance(body.get("error"), str) and body["error"]:
        description = body.get("error_description")
        uri = body.get("error_uri")
        raise error_class_for(body["error"])(
            status=response.status,
            error=redact_text(cut(body["error"], _CODE_LIMIT), secrets),
            error_description=_server_text(description, secrets)
            if isinstance(description, str)
            else None,
            error_uri=_server_text(uri, secrets) if isinstance(uri, str) else None,
            details={
                _server_text(k, secrets): _server_text(v, secrets)
                for k, v in _error_details(body).items()
            },
        )
    if 200 <= response.status < 300:
        return
    if 400 <= response.status < 500:
        raise error_class_for("")(
            status=response.status,
            error=f"http_{response.status}",
            error_description="the answer carried no RFC 6749 error code",
        )
    raise _not_a_token(response, f"unexpected HTTP {response.status}", secrets)


def _credential_like(name: str) -> bool:
    """True for an answer field whose name says it holds a credential.

    Such a field is dropped from ``token.extra``, so it is neither cached nor printed by
    ``token --json``: a session key, a signature, a password, another token. The token
    itself, ``token_type`` and RFC 8693's ``issued_token_type`` are not extra fields.
    """
    lowered = name.lower()
    if lowered in _STANDARD_TOKEN_FIELDS:
        return False
    return any(word in lowered for word in _CREDENTIAL_WORDS)


def _check_redirect(response: HttpResponse) -> None:
    if 300 <= response.status < 400:
        location = response.header("location") or ""
        host = urlsplit(location).hostname or "an unnamed location"
        raise TokenResponseError(
            f"the token endpoint {response.url} redirected (HTTP {response.status}) to {host}; "
            "redirects are never followed on token requests, so the credentials stayed here; "
            "set token_url to the final address",
            status=response.status,
            content_type=response.header("content-type"),
        )


def _number(value: Any) -> float | None:
    """A finite number from an int, float or numeric string; None when not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def b64url_decode(segment: str) -> bytes:
    """Decode one unpadded base64url segment of a JWS (RFC 7515 §2, §C).

    Raises:
        ValueError: ``segment`` is not base64url (``binascii.Error`` is a ValueError).
    """
    try:
        return base64.urlsafe_b64decode(segment.encode("ascii") + b"=" * (-len(segment) % 4))
    except UnicodeError:
        raise ValueError("not base64url") from None


def decode_jws_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The header and claims of a compact JWS (a JWT), read without verifying.

    The one JWT segment decoder: the token parser, ``tokenrack inspect`` and the test
    kit's assertion checks all read tokens through it.

    Returns:
        ``(header, claims)``, or None when ``token`` is not three dot-separated parts
        whose first two are base64url JSON objects.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    header, claims = _json_segment(parts[0]), _json_segment(parts[1])
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return None
    return header, claims


def jwt_claims(token: str) -> dict[str, Any] | None:
    """The claims of a JWT-shaped token, read without verifying; None when not a JWT.

    Only the claims segment must decode: a token's lifetime is read from ``exp`` even
    when its header is unusual.
    """
    parts = token.split(".")
    claims = _json_segment(parts[1]) if len(parts) == 3 else None
    return claims if isinstance(claims, dict) else None


def _json_segment(segment: str) -> Any:
    """A base64url JSON segment's value, or None when it is not one."""
    try:
        return json.loads(b64url_decode(segment))
    except ValueError:  # binascii.Error, JSONDecodeError and UnicodeDecodeError are all one
        return None


DATE_SKEW = 60.0
"""Seconds a server's ``Date`` may differ from this host's clock and still be used."""


def _server_now(response: HttpResponse) -> float | None:
    """The server's clock at the answer (its ``Date`` header), or None when it has none.

    A ``Date`` more than :data:`DATE_SKEW` from this host's clock is not used: it says
    more about a gateway's clock than about the server's.
    """
    date = response.header("date")
    if not date:
        return None
    from email.utils import parsedate_to_datetime  # only for an absolute expiry, rarely

    try:
        server_now = parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if abs(server_now - response.sent_at) > DATE_SKEW:
        logger.debug(
            "the answer's Date is more than %.0fs from this host's clock; ignored", DATE_SKEW
        )
        return None
    return server_now


def _until(expiry: float, response: HttpResponse) -> float:
    """Seconds from the request to the absolute ``expiry``, by this host's clock at most.

    The server's ``Date`` (see :func:`_server_now`) may only shorten the lifetime, and
    only when both readings are positive: a gateway whose ``Date`` is wrong can neither
    stretch a token past its expiry by this host's clock nor make every answer expired
    on arrival. ``Date`` has a 1-second resolution, which through the minimum cannot
    lengthen a lifetime either.
    """
    local = expiry - response.sent_at
    server_now = _server_now(response)
    if server_now is None:
        return local
    by_server = expiry - server_now
    return min(local, by_server) if local > 0 and by_server > 0 else local


def _lifetime(
    response: HttpResponse,
    body: Mapping[str, Any],
    access_token: str,
    fields: ResponseFields,
    default_ttl: float,
) -> float:
    """Seconds the token lives, counted from when the request was sent.

    ``expires_in`` is relative, so it is immune to clock skew. The absolute ``expires_on``
    and JWT ``exp`` are measured against this host's clock, shortened by the server's own
    ``Date`` when it is within :data:`DATE_SKEW` and says less (see :func:`_until`): a token
    is never believed to outlive its expiry by this host's clock.
    """
    raw = body.get(fields.expires_in)
    if raw is not None:
        seconds = _number(raw)
        if seconds is None:
            raise TokenResponseError(f"{fields.expires_in} is not a number: {str(raw)[:40]!r}")
        if fields.expires_in_unit == "ms":
            seconds /= 1000.0
        return seconds
    expires_on = _number(body.get("expires_on"))
    if expires_on is not None:
        return _until(expires_on, response)
    claims = jwt_claims(access_token)
    exp = _number(claims.get("exp")) if claims else None
    if exp is not None:
        return _until(exp, response)
    logger.info("token response has no expiry; assuming default_ttl of %ss", default_ttl)
    return default_ttl


def _token_type(body: Mapping[str, Any]) -> str:
    value = body.get("token_type")
    if value is None:
        return "Bearer"
    if not isinstance(value, str) or not value.strip():
        raise TokenResponseError("token_type is not a string")
    value = value.strip()
    return "Bearer" if value.lower() == "bearer" else value


def _scopes(body: Mapping[str, Any], requested: Sequence[str], separator: str) -> tuple[str, ...]:
    granted = body.get("scope")
    if isinstance(granted, str):
        return tuple(s for s in granted.split(separator.strip() or None) if s)
    if isinstance(granted, list) and all(isinstance(s, str) for s in granted):
        return tuple(granted)
    return tuple(requested)


def parse_token_response(
    response: HttpResponse,
    *,
    requested_scopes: Sequence[str] = (),
    default_ttl: float = 3600.0,
    fields: ResponseFields = ResponseFields(),
    secrets: Sequence[str] = (),
) -> Token:
    """Parse a token endpoint's answer into a :class:`Token`.

    Args:
        response: The answer.
        requested_scopes: Scopes asked for; used when the server does not list them.
        default_ttl: Lifetime to assume when the answer states none.
        fields: Where this vendor puts the token and its lifetime.
        secrets: Secret values sent with the request, scrubbed from anything quoted.

    Raises:
        TokenRequestError: The server refused (RFC 6749 §5.2), whatever the status.
        TokenResponseError: The answer is not a usable token.
    """
    _check_redirect(response)
    if 200 <= response.status < 300:
        body = decode_body(response, secrets)
    else:
        try:
            body = decode_body(response, secrets)
        except TokenResponseError:
            body = None  # a refusal without a readable body is still a refusal
    raise_for_error(response, body, secrets)
    if not isinstance(body, Mapping):
        raise _not_a_token(response, "answer is not a JSON object", secrets)
    access_token = body.get(fields.token)
    if not isinstance(access_token, str) or not access_token.strip():
        raise _not_a_token(response, f"answer has no {fields.token} string", secrets)
    lifetime = _lifetime(response, body, access_token, fields, default_ttl)
    if lifetime <= 0:
        raise TokenResponseError(
            f"the token is already expired on arrival (lifetime {lifetime:.0f}s)",
            status=response.status,
        )
    if lifetime > MAX_LIFETIME:
        logger.debug("lifetime of %.0fs capped to %.0fs", lifetime, MAX_LIFETIME)
        lifetime = MAX_LIFETIME
    dropped = _NOT_KEPT | {fields.token, fields.expires_in}
    extra = MappingProxyType(
        {k: v for k, v in body.items() if k not in dropped and not _credential_like(k)}
    )
    return Token(
        access_token=access_token,
        token_type=_token_type(body),
        expires_at=response.sent_at + lifetime,
        scopes=_scopes(body, requested_scopes, fields.scope_separator),
        extra=extra,
    )
