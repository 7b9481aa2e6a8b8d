"""Google workload identity federation: ``external_account`` through STS, then IAM.

Against the strict STS/IAM personality: the subject token read from the file the
credential configuration names (again at every fetch), the STS exchange's fields as
google-auth sends them, optional impersonation, and the refusals (wrong audience, wrong
subject_token_type, expired subject token, an account the principal may not impersonate).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tokenrack_providers.google_wif import CLOUD_PLATFORM, ExternalAccount, external_account_flow
from tokenrack_providers.testing.google_sts import GoogleStsPersonality, impersonation_path

from tests.conftest import TOKEN_MARK
from tokenrack.core.registry import Registry
from tokenrack.errors import ConfigError, InvalidGrantError, InvalidRequestError, TokenRequestError
from tokenrack.oauth.message import HttpResponse, TokenRequest
from tokenrack.secret.value import Secret
from tokenrack.testing import TokenEmulator
from tokenrack.token import Token

POOL = "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/p/providers/k8s"
SA = "reports@acme-prod.iam.gserviceaccount.com"
STORAGE = "https://www.googleapis.com/auth/devstorage.read_only"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"


def jwt(**claims: Any) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    body = {"aud": f"https:{POOL}", "exp": int(time.time()) + 600, "sub": "system:sa", **claims}
    return f"{part({'alg': 'RS256'})}.{part(body)}.c2ln"


@pytest.fixture
def google() -> Iterator[TokenEmulator]:
    personality = GoogleStsPersonality(audience=POOL, service_accounts=[SA])
    with TokenEmulator([], token_prefix=f"{TOKEN_MARK}-", personality=personality) as running:
        yield running


def credential_config(
    google: TokenEmulator, tmp_path: Path, *, impersonate: bool = False, **changes: Any
) -> Path:
    """An external_account file as gcloud writes it, pointing at the emulator."""
    token_file = tmp_path / "k8s-token"
    if not token_file.exists():
        token_file.write_text(jwt())
    document: dict[str, Any] = {
        "type": "external_account",
        "audience": POOL,
        "subject_token_type": JWT_TYPE,
        "token_url": google.url + "/v1/token",
        "credential_source": {"file": str(token_file), "format": {"type": "text"}},
        **changes,
    }
    if impersonate:
        document["service_account_impersonation_url"] = google.url + impersonation_path(SA)
    path = tmp_path / "wif.json"
    path.write_text(json.dumps(document))
    return path


def profile(config: Path, **options: Any) -> dict[str, Any]:
    return {
        "provider": "google",
        "external_account": {"file": str(config)},
        "scopes": [STORAGE],
        **options,
    }


def test_the_subject_token_is_exchanged_at_sts_as_google_auth_sends_it(
    google: TokenEmulator, tmp_path: Path, make_registry: Callable[..., Registry]
) -> None:
    registry = make_registry({"gcp": profile(credential_config(google, tmp_path))})
    token = registry.get_token("gcp")
    assert token.access_token in google.issued_tokens
    (request,) = google.requests
    form = dict(request.form)
    assert request.path == "/v1/token"
    assert form == {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "audience": POOL,
        "scope": STORAGE,
        "requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "subject_token": (tmp_path / "k8s-token").read_text(),
        "subject_token_type": JWT_TYPE,
    }
    assert "authorization" not in request.headers


def test_the_token_file_is_read_again_at_every_fetch(
    google: TokenEmulator, tmp_path: Path, make_registry: Callable[..., Registry]
) -> None:
    registry = make_registry({"gcp": profile(credential_config(google, tmp_path))})
    registry.get_token("gcp")
    rotated = jwt(n=2)
    (tmp_path / "k8s-token").write_text(rotated)
    registry.get_token("gcp", force_refresh=True)
    assert dict(google.requests[-1].form)["subject_token"] == rotated


def test_impersonation_asks_sts_for_cloud_platform_then_iam_for_the_scopes(
    google: TokenEmulator, tmp_path: Path, make_registry: Callable[..., Registry]
) -> None:
    config = credential_config(
        google,
        tmp_path,
        impersonate=True,
        service_account_impersonation={"token_lifetime_seconds": 600},
    )
    registry = make_registry({"gcp": profile(config)})
    token = registry.get_token("gcp")
    sts, iam = google.requests
    assert dict(sts.form)["scope"] == CLOUD_PLATFORM
    assert iam.path == impersonation_path(SA)
    assert dict(iam.form) == {"scope": STORAGE, "lifetime": "600s"}
    assert iam.headers["authorization"] == f"Bearer {google.issued_tokens[0]}"
    assert token.access_token == google.issued_tokens[1]
    assert 500 < token.expires_in() <= 600


def test_the_impersonation_body_sends_scope_as_an_array() -> None:
    request = TokenRequest(
        url="https://iam.test/x", form=(("scope[]", STORAGE),), body_format="json"
    )
    assert json.loads(request.encode().body) == {"scope": [STORAGE]}


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"audience": POOL + "-other"}, InvalidRequestError, "audience"),
        (
            {"subject_token_type": "urn:ietf:params:oauth:token-type:saml2"},
            InvalidRequestError,
            "subject_token_type",
        ),
    ],
    ids=["wrong-audience", "wrong-subject-token-type"],
)
def test_sts_refuses(
    google: TokenEmulator,
    tmp_path: Path,
    make_registry: Callable[..., Registry],
    changes: dict[str, Any],
    error: type[TokenRequestError],
    message: str,
) -> None:
    registry = make_registry({"gcp": profile(credential_config(google, tmp_path, **changes))})
    with pytest.raises(error, match=message):
        registry.get_token("gcp")


def test_sts_refuses_an_expired_subject_token(
    google: TokenEmulator, tmp_path: Path, make_registry: Callable[..., Registry]
) -> None:
    (tmp_path / "k8s-token").write_text(jwt(exp=int(time.time()) - 5))
    registry = make_registry({"gcp": profile(credential_config(google, tmp_path))})
    with pytest.raises(InvalidGrantError, match="expired"):
        registry.get_token("gcp")


def test_iam_refuses_an_account_the_principal_may_not_impersonate(
    tmp_path: Path, make_registry: Callable[..., Registry]
) -> None:
    personality = GoogleStsPersonality(
        audience=POOL, service_accounts=["other@x.iam.gserviceaccount.com"]
    )
    with TokenEmulator([], token_prefix=f"{TOKEN_MARK}-", personality=personality) as google:
        registry = make_registry(
            {"gcp": profile(credential_config(google, tmp_path, impersonate=True))}
        )
        with pytest.raises(TokenRequestError, match="permission_denied"):
            registry.get_token("gcp")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"type": "service_account"}, "not 'external_account'"),
        ({"type": "external_account", "subject_token_type": JWT_TYPE}, "no audience"),
        (
            {
                "type": "external_account",
                "audience": POOL,
                "subject_token_type": "x",
                "credential_source": {
                    "environment_id": "aws1",
                    "region_url": "http://169.254.169.254",
                },
            },
            "AWS credential sources",
        ),
        (
            {
                "type": "external_account",
                "audience": POOL,
                "subject_token_type": "x",
                "credential_source": {"file": "/t", "format": {"type": "json"}},
            },
            "subject_token_field_name",
        ),
    ],
    ids=["service-account", "no-audience", "aws", "json-without-field"],
)
def test_an_unusable_credential_configuration_is_a_config_error(
    tmp_path: Path, make_registry: Callable[..., Registry], document: dict[str, Any], message: str
) -> None:
    path = tmp_path / "wif.json"
    path.write_text(json.dumps(document))
    registry = make_registry({"gcp": profile(path)})
    with pytest.raises(ConfigError, match=message) as caught:
        registry.get_token("gcp")
    assert caught.value.path == "profiles.gcp.external_account"


def test_a_key_file_and_external_account_together_are_refused(
    tmp_path: Path, make_registry: Callable[..., Registry]
) -> None:
    with pytest.raises(ConfigError, match="service_account_key is for a service account key"):
        make_registry({"gcp": profile(tmp_path / "wif.json", service_account_key={"file": "/k"})})


def test_neither_a_key_nor_external_account_names_what_is_missing(
    make_registry: Callable[..., Registry],
) -> None:
    with pytest.raises(ConfigError, match=r"profiles\.gcp\.service_account: required, but missing"):
        make_registry({"gcp": {"provider": "google", "scopes": [STORAGE]}})


def test_the_cache_key_carries_the_pool_and_the_impersonated_account(
    google: TokenEmulator, tmp_path: Path, make_registry: Callable[..., Registry]
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    plain = credential_config(google, tmp_path / "a")
    impersonated = credential_config(google, tmp_path / "b", impersonate=True)
    registry = make_registry({"a": profile(plain), "b": profile(impersonated)})
    a, b = registry.runtime("a"), registry.runtime("b")
    assert a.cache_key_parts["audience"] == POOL
    assert b.cache_key_parts["impersonation_url"].endswith(impersonation_path(SA))
    assert a.cache_key != b.cache_key


def test_a_url_source_is_fetched_with_its_headers_and_a_json_field() -> None:
    account = ExternalAccount(
        audience=POOL,
        subject_token_type=JWT_TYPE,
        token_url="https://sts.test/v1/token",
        source_url="http://127.0.0.1:1/metadata/identity/oauth2/token",
        source_headers=(("Metadata", "True"),),
        field_name="access_token",
    )

    def parse(response: HttpResponse) -> Token:
        return Token("federated", "Bearer", time.time() + 60)

    flow = external_account_flow(account, (STORAGE,), parse)
    get = next(flow)
    assert (get.method, get.url, get.headers) == (
        "GET",
        account.source_url,
        (("Metadata", "True"),),
    )
    body = json.dumps({"access_token": "the-subject"}).encode()
    sts = flow.send(HttpResponse(200, {}, body, get.url, time.time()))
    subject = sts.form_value("subject_token")
    assert isinstance(subject, Secret) and subject.reveal() == "the-subject"
    with pytest.raises(StopIteration) as done:
        flow.send(HttpResponse(200, {}, b"{}", sts.url, time.time()))
    assert done.value.value.access_token == "federated"
