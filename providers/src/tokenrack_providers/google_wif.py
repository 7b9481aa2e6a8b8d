"""Google workload identity federation: an ``external_account`` file, exchanged at STS.

Sources (docs/providers/google.md): google.aip.dev/auth/4117 and google-auth's
``identity_pool.py``, ``sts.py``, ``external_account.py`` and ``impersonated_credentials.py``.
The credential configuration (``type: external_account``) names the STS ``audience``, the
``subject_token_type``, the STS ``token_url`` and a ``credential_source``: a ``file`` or a
``url`` (with ``headers``), whose text, or a JSON field of it (``format``), is the subject
token. The token is read at every fetch and sent as an RFC 8693 exchange
(``requested_token_type`` access_token, ``scope`` space-separated); the STS token is the
answer, unless ``service_account_impersonation_url`` is set: the STS token (asked with the
``cloud-platform`` scope) is then the Bearer of a ``generateAccessToken`` call whose JSON
answer (``accessToken``, ``expireTime``) is the token. AWS (``environment_id``), executable
and X.509 sources are not supported.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tokenrack.plugin import (
    ConfigError,
    FormValue,
    HttpResponse,
    Secret,
    Token,
    TokenFlow,
    TokenRequest,
    TokenRequestError,
    TokenResponseError,
    decode_body,
    rfc6749_encode,
)

__all__ = [
    "CLOUD_PLATFORM",
    "EXTERNAL_OPTION",
    "STS_URL",
    "TOKEN_EXCHANGE",
    "ExternalAccount",
    "external_account_flow",
]

EXTERNAL_OPTION = "external_account"
STS_URL = "https://sts.googleapis.com/v1/token"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
_HOW = "gcloud iam workload-identity-pools create-cred-config writes one"
_SERVICE_ACCOUNT = re.compile(r"/serviceAccounts/([^/:]+):generateAccessToken$")
_UNSUPPORTED = {
    "environment_id": "AWS credential sources (environment_id) are not supported; "
    "read the token from a file or url instead",
    "executable": "executable credential sources are not supported; use a file or url",
    "certificate": "X.509 credential sources are not supported; use a file or url",
}


def _problem(message: str) -> ConfigError:
    return ConfigError(f"{message} ({_HOW})", path=EXTERNAL_OPTION)


def _url(value: Any) -> bool:
    return isinstance(value, str) and value.lower().startswith(("https://", "http://"))


@dataclass(frozen=True, slots=True)
class ExternalAccount:
    """What the exchange needs from an ``external_account`` credential configuration.

    Attributes:
        audience: The workload identity pool provider (STS ``audience``).
        subject_token_type: The type of the subject token (STS ``subject_token_type``).
        token_url: The STS endpoint.
        source_file: The file the subject token is read from, or None.
        source_url: The URL it is fetched from (GET), or None.
        source_headers: Headers sent with that GET.
        field_name: For ``format.type: json``, the field holding the token; None for text.
        impersonation_url: The ``generateAccessToken`` URL, if the token is impersonated.
        lifetime: ``service_account_impersonation.token_lifetime_seconds``, if set.
        client_id: The STS client id (workforce pools), if any.
        client_secret: Its secret; never shown.
    """

    audience: str
    subject_token_type: str
    token_url: str = STS_URL
    source_file: str | None = None
    source_url: str | None = None
    source_headers: tuple[tuple[str, str], ...] = ()
    field_name: str | None = None
    impersonation_url: str | None = None
    lifetime: int | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)

    @property
    def service_account(self) -> str | None:
        """The impersonated service account's email, from the impersonation URL."""
        found = _SERVICE_ACCOUNT.search(self.impersonation_url or "")
        return found.group(1) if found else None

    @classmethod
    def from_json(cls, text: str) -> ExternalAccount:
        """Read a credential configuration file's JSON.

        Raises:
            ConfigError: It is not one, or names a source this provider cannot read (the
                message names the field, never quotes the file).
        """
        try:
            data = json.loads(text)
        except ValueError:
            raise _problem("not an external_account file: the text is not JSON") from None
        if not isinstance(data, dict) or data.get("type") != "external_account":
            raise _problem("not an external_account file: its type is not 'external_account'")
        for key in ("audience", "subject_token_type"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise _problem(f"the external_account file has no {key}")
        token_url = data.get("token_url") or STS_URL
        impersonation = data.get("service_account_impersonation_url")
        for key, value in (
            ("token_url", token_url),
            ("service_account_impersonation_url", impersonation),
        ):
            if value is not None and not _url(value):
                raise _problem(f"the external_account file's {key} is not an http(s) URL")
        source = data.get("credential_source")
        if not isinstance(source, dict):
            raise _problem("the external_account file has no credential_source")
        for key, message in _UNSUPPORTED.items():
            if key in source:
                raise _problem(message)
        file, url = source.get("file"), source.get("url")
        if not (isinstance(file, str) and file) and not _url(url):
            raise _problem("credential_source needs a file or an http(s) url")
        headers = source.get("headers") or {}
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise _problem("credential_source.headers must map names to strings")
        form = source.get("format") or {"type": "text"}
        kind = form.get("type", "text") if isinstance(form, dict) else None
        if kind not in ("text", "json"):
            raise _problem("credential_source.format.type must be text or json")
        field_name = form.get("subject_token_field_name") if kind == "json" else None
        if kind == "json" and not (isinstance(field_name, str) and field_name):
            raise _problem("credential_source.format json needs subject_token_field_name")
        options = data.get("service_account_impersonation") or {}
        lifetime = options.get("token_lifetime_seconds") if isinstance(options, dict) else None
        return cls(
            audience=data["audience"],
            subject_token_type=data["subject_token_type"],
            token_url=str(token_url),
            source_file=file if isinstance(file, str) and file else None,
            source_url=url if _url(url) else None,
            source_headers=tuple((str(k), v) for k, v in headers.items()),
            field_name=field_name,
            impersonation_url=impersonation,
            lifetime=int(lifetime) if isinstance(lifetime, int) else None,
            client_id=data.get("client_id") or None,
            client_secret=data.get("client_secret") or None,
        )


def _token_from(text: str, account: ExternalAccount, where: str) -> Secret:
    """The subject token in a source's text (or its JSON field).

    Raises:
        TokenResponseError: The text holds no token (named by where it came from).
    """
    if account.field_name is None:
        token = text.strip()
    else:
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        value = data.get(account.field_name) if isinstance(data, dict) else None
        token = value.strip() if isinstance(value, str) else ""
        if not token:
            raise TokenResponseError(f"{where} has no {account.field_name} field with a token")
    if not token:
        raise TokenResponseError(f"{where} is empty: no subject token")
    return Secret(token)


def _subject_token(
    account: ExternalAccount,
) -> Generator[TokenRequest, HttpResponse, Secret]:
    """Read the subject token: the file (again at every fetch), or a GET of the URL."""
    if account.source_file is not None:
        try:
            with open(account.source_file, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as error:
            raise ConfigError(
                f"credential_source file {account.source_file}: cannot be read "
                f"({error.strerror or type(error).__name__})",
                path=EXTERNAL_OPTION,
            ) from None
        return _token_from(text, account, f"credential_source file {account.source_file}")
    assert account.source_url is not None
    response = yield TokenRequest(
        url=account.source_url,
        method="GET",
        headers=account.source_headers,
        authenticate=False,
    )
    if response.status != 200:
        raise TokenResponseError(
            f"credential_source url answered HTTP {response.status}", status=response.status
        )
    text = response.body.decode("utf-8", errors="replace")
    return _token_from(text, account, "the credential_source url's answer")


def _sts_request(
    account: ExternalAccount, subject: Secret, scopes: tuple[str, ...]
) -> TokenRequest:
    """The RFC 8693 exchange, as google-auth's ``sts.py`` sends it."""
    headers: tuple[tuple[str, FormValue], ...] = ()
    if account.client_id and account.client_secret:
        pair = f"{rfc6749_encode(account.client_id)}:{rfc6749_encode(account.client_secret)}"
        basic = base64.b64encode(pair.encode()).decode("ascii")
        headers = (("Authorization", Secret(f"Basic {basic}")),)
    form: tuple[tuple[str, FormValue], ...] = (
        ("grant_type", TOKEN_EXCHANGE),
        ("audience", account.audience),
        ("scope", " ".join(scopes)),
        ("requested_token_type", ACCESS_TOKEN_TYPE),
        ("subject_token", subject),
        ("subject_token_type", account.subject_token_type),
    )
    return TokenRequest(url=account.token_url, form=form, headers=headers, authenticate=False)


def _impersonated(response: HttpResponse) -> Token:
    """The ``generateAccessToken`` answer: ``accessToken`` and ``expireTime`` (RFC 3339).

    Raises:
        TokenRequestError: IAM refused (its ``error.status`` as the code, lower case).
        TokenResponseError: The answer is not a token.
    """
    body = decode_body(response) if response.body else None
    if response.status >= 400:
        error = body.get("error") if isinstance(body, Mapping) else None
        error = error if isinstance(error, Mapping) else {}
        raise TokenRequestError(
            status=response.status,
            error=str(error.get("status") or "iam_error").lower(),
            error_description=str(error.get("message") or "") or None,
        )
    if not isinstance(body, Mapping):
        raise TokenResponseError("generateAccessToken answered something that is not JSON")
    token, expiry = body.get("accessToken"), body.get("expireTime")
    if not isinstance(token, str) or not token or not isinstance(expiry, str):
        raise TokenResponseError("generateAccessToken answered no accessToken and expireTime")
    try:
        expires_at = datetime.fromisoformat(expiry.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise TokenResponseError("generateAccessToken's expireTime is not a time") from None
    return Token(access_token=token, token_type="Bearer", expires_at=expires_at)


def external_account_flow(
    account: ExternalAccount,
    scopes: tuple[str, ...],
    parse: Callable[[HttpResponse], Token],
) -> TokenFlow:
    """Read the subject token, exchange it at STS, then impersonate if the file says so.

    Args:
        account: The credential configuration.
        scopes: The profile's scopes (asked of STS, or of the impersonated account).
        parse: Parses the STS answer (the provider's RFC 6749 parsing).

    Raises:
        ConfigError: The credential source cannot be read.
        TokenRequestError: STS or IAM refused.
        TokenResponseError: An answer is not a usable token.
    """
    subject = yield from _subject_token(account)
    sts_scopes = (CLOUD_PLATFORM,) if account.impersonation_url else scopes
    sts = parse((yield _sts_request(account, subject, sts_scopes)))
    if not account.impersonation_url:
        return sts
    form: list[tuple[str, str]] = [("scope[]", scope) for scope in scopes]
    if account.lifetime:
        form.append(("lifetime", f"{account.lifetime}s"))
    response = yield TokenRequest(
        url=account.impersonation_url,
        form=tuple(form),
        headers=(("Authorization", Secret(f"Bearer {sts.access_token}")),),
        body_format="json",
        authenticate=False,
    )
    return _impersonated(response)
