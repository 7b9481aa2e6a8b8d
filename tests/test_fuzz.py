"""Fuzzing with hypothesis: the loader raises ConfigError and the parser TokenError, only.

Bounded for `make test`; `HYPOTHESIS_PROFILE=long make unit` runs many more examples.
"""

from __future__ import annotations

import contextlib
import json
import string
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tokenrack.config.document import parse_yaml
from tokenrack.core.registry import Registry
from tokenrack.errors import ConfigError, TokenRequestError, TokenResponseError
from tokenrack.oauth.message import HttpResponse
from tokenrack.oauth.response import parse_token_response

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(
        [
            "generic",
            "memory",
            "client_secret_basic",
            "auto",
            "https://x.example/t",
            "${X}",
            "$$",
            "${",
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
keys = st.sampled_from(
    [
        "provider",
        "token_url",
        "issuer",
        "client_id",
        "client_secret",
        "scopes",
        "audience",
        "resource",
        "extra_params",
        "timeout",
        "retries",
        "cache",
        "default_ttl",
        "extends",
        "auth_method",
        "private_key",
        "basic_encoding",
        "verify",
        "ca_bundle",
        "proxies",
        "refresh_before",
        "allow_insecure_http",
        "typo",
    ]
)
profiles = st.dictionaries(keys, values, max_size=8)
documents = st.fixed_dictionaries(
    {
        "version": st.one_of(st.just(1), values),
        "profiles": st.dictionaries(st.text(min_size=1, max_size=8), profiles | values, max_size=4),
    },
    optional={"defaults": st.dictionaries(keys, values, max_size=4) | values, "extra": values},
)


@given(documents)
def test_loader_raises_only_config_errors(document: dict[str, Any]) -> None:
    with contextlib.suppress(ConfigError):
        Registry.from_dict(document)


@given(st.text(alphabet=string.printable + "é€\t", max_size=200))
def test_yaml_text_raises_only_config_errors(text: str) -> None:
    try:
        data = parse_yaml(text, source="fuzz.yaml")
        Registry.from_dict(
            data if isinstance(data, dict) else {"version": 1, "profiles": {"p": data}}
        )
    except ConfigError:
        pass


json_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30)
    ),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=10,
)
token_fields = st.fixed_dictionaries(
    {},
    optional={
        "access_token": json_values,
        "token_type": json_values,
        "expires_in": json_values,
        "expires_on": json_values,
        "scope": json_values,
        "error": json_values,
        "error_description": json_values,
        "refresh_token": json_values,
    },
)
bodies = st.one_of(
    token_fields.map(lambda d: json.dumps(d).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=300),
    st.text(max_size=300).map(str.encode),
)


@settings(max_examples=settings().max_examples * 3)
@given(
    bodies,
    st.sampled_from([200, 201, 204, 301, 302, 400, 401, 403, 404, 418, 500, 501]),
    st.sampled_from(
        [
            "application/json",
            "application/x-www-form-urlencoded",
            "text/html",
            "",
            "text/plain; charset=utf-8",
            "application/problem+json",
        ]
    ),
    st.one_of(st.none(), st.text(max_size=40)),
)
def test_parser_raises_only_token_errors(
    body: bytes, status: int, content_type: str, date: str | None
) -> None:
    headers = {"content-type": content_type}
    if date is not None:
        headers["date"] = date
    response = HttpResponse(
        status=status, headers=headers, body=body, url="https://x/t", sent_at=1_800_000_000.0
    )
    try:
        token = parse_token_response(response)
    except (TokenResponseError, TokenRequestError):
        return
    assert isinstance(token.access_token, str) and token.access_token.strip()
    assert token.expires_at > 1_800_000_000.0


# Secrets of 4 characters or more: a derived form shorter than that is not masked, by
# design (it would mask ordinary text), and every form of a 4-character secret is longer.
@given(
    st.text(min_size=4, max_size=30).filter(str.strip),
    st.text(max_size=60),
    st.text(max_size=60),
    st.sampled_from(["raw", "quote", "quote_plus", "json", "hex", "upper", "basic"]),
)
def test_scrubber_masks_any_secret_in_any_form(
    secret: str, before: str, after: str, form: str
) -> None:
    """Issue 10, F7: whatever the secret and the text around it, its echo is masked."""
    import base64
    from urllib.parse import quote, quote_plus

    from tokenrack.secret.scrub import Scrubber
    from tokenrack.secret.value import Secret

    basic = base64.b64encode(f"id:{quote(secret, safe='')}".encode()).decode()
    echo = {
        "raw": secret,
        "quote": quote(secret, safe=""),
        "quote_plus": quote_plus(secret),
        "json": json.dumps(secret)[1:-1],
        "hex": secret.encode().hex(),
        "upper": secret.upper(),
        "basic": basic,
    }[form]
    scrubbed = Scrubber([Secret(secret), Secret("Basic " + basic)]).scrub(before + echo + after)
    if form == "upper" and len(secret.upper()) != len(secret):
        return  # a case change that changes the length (ß -> SS) is not a case-folded match
    assert echo not in scrubbed or echo in before + after
