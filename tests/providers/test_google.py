"""The google provider against the Google personality: the JWT-bearer grant, strictly.

Service-account keys are made in the test run (RSA, as Google issues them); assertions are
verified by the personality with tokenrack.testing.assertions (cryptography, not PyJWT).
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from tokenrack_providers.google import GoogleProvider
from tokenrack_providers.testing.google import (
    JWT_BEARER,
    ServiceAccountKeyFile,
    write_service_account_key,
)
from tokenrack_providers.testing.personalities import GooglePersonality

from tests.conftest import SECRET
from tests.keys import private_key, private_pem
from tests.providers.conftest import StartEmulator
from tokenrack.auth.signing import load_private_key, sign_jwt
from tokenrack.core.registry import Registry
from tokenrack.errors import (
    ConfigError,
    InvalidGrantError,
    UnauthorizedClientError,
)
from tokenrack.testing import ProviderContractTests, TokenEmulator
from tokenrack.testing.assertions import load_public_key, verify_grant_assertion
from tokenrack.testing.tls import TestCertificates

SA = "reports@acme-prod.iam.gserviceaccount.com"
OTHER_SA = "billing@acme-prod.iam.gserviceaccount.com"
ADMIN = "admin@acme.example"
STORAGE = "https://www.googleapis.com/auth/devstorage.read_only"
BIGQUERY = "https://www.googleapis.com/auth/bigquery.readonly"
MakeRegistry = Callable[..., Registry]


def key_json(email: str = SA, **changes: Any) -> str:
    """A key file's text, with the test run's RSA key."""
    document = {
        "type": "service_account",
        "project_id": "acme-prod",
        "private_key_id": "0123abcd",
        "private_key": private_pem("rsa"),
        "client_email": email,
        "token_uri": "https://oauth2.googleapis.com/token",
        **changes,
    }
    return json.dumps({k: v for k, v in document.items() if v is not None})


class TestGoogleContract(ProviderContractTests):
    provider_class = GoogleProvider
    entry_point = "google"
    profile = {"service_account": SA, "service_account_key": key_json(), "scopes": [STORAGE]}


def decode(part: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


class Google:
    """A running Google personality with one service account, and profiles for it."""

    def __init__(self, emulator: TokenEmulator, key: ServiceAccountKeyFile, certs: Any) -> None:
        self.emulator = emulator
        self.key = key
        self.certs = certs

    @property
    def token_url(self) -> str:
        return f"{self.emulator.url}/token"

    def profile(self, **options: Any) -> dict[str, Any]:
        return {
            "provider": "google",
            "service_account": SA,
            "service_account_key": {"file": str(self.key.path)},
            "scopes": [STORAGE, BIGQUERY],
            "token_url": self.token_url,
            "ca_bundle": str(self.certs.ca_path),
            "retries": {"attempts": 2, "backoff": 0.01, "max_backoff": 0.05},
            **options,
        }

    def post(self, claims: dict[str, Any], **form: str) -> requests.Response:
        """A hand-made grant, signed with the service account's key."""
        pem = json.loads(self.key.path.read_text())["private_key"]
        key = load_private_key(pem, algorithm="RS256", key_id=self.key.private_key_id)
        body = {"grant_type": JWT_BEARER, "assertion": sign_jwt(claims, key), **form}
        return requests.post(self.token_url, data=body, verify=str(self.certs.ca_path), timeout=5)


@pytest.fixture
def google(start: StartEmulator, certs: TestCertificates, tmp_path: Path) -> Google:
    key = write_service_account_key(
        tmp_path / "sa.json", client_email=SA, private_key=private_key("rsa")
    )
    emulator = start(GooglePersonality(delegations={SA: [ADMIN]}), [key.client])
    return Google(emulator, key, certs)


def test_service_account_gets_a_token_with_a_strictly_checked_assertion(
    google: Google, make_registry: MakeRegistry
) -> None:
    token = make_registry({"gcp": google.profile()}).get_token("gcp")
    emulator = google.emulator
    assert token.access_token in emulator.issued_tokens
    assert token.token_type == "Bearer" and 3000 < token.expires_in() <= 3600
    (sent,) = emulator.requests
    assert sent.path == "/token" and sent.auth_method == "none"
    assert [name for name, _ in sent.form] == ["grant_type", "assertion"]
    assert sent.form_value("grant_type") == JWT_BEARER
    assert "authorization" not in sent.headers
    assertion = sent.form_value("assertion") or ""
    verified = verify_grant_assertion(
        assertion,
        key=load_public_key(google.key.client.public_key or ""),
        issuer=SA,
        audiences={google.token_url},
        algorithms={"RS256"},
    )
    assert verified.header == {"alg": "RS256", "typ": "JWT", "kid": google.key.private_key_id}
    claims = verified.claims
    assert claims["scope"] == f"{STORAGE} {BIGQUERY}" and claims["aud"] == google.token_url
    assert claims["exp"] - claims["iat"] == 3600 and "sub" not in claims


def test_token_uri_of_the_key_file_is_used_and_token_url_wins(
    google: Google, make_registry: MakeRegistry, tmp_path: Path
) -> None:
    legacy = f"{google.emulator.url}/o/oauth2/token"
    key = write_service_account_key(
        tmp_path / "legacy.json",
        client_email=SA,
        token_uri=legacy,
        private_key=private_key("rsa"),
        private_key_id=google.key.private_key_id,
    )
    from_file = google.profile(service_account_key={"file": str(key.path)})
    from_file.pop("token_url")
    registry = make_registry({"from-file": from_file, "override": google.profile()})
    registry.get_token("from-file")
    registry.get_token("override")
    first, second = google.emulator.requests
    assert first.path == "/o/oauth2/token"
    assert decode((first.form_value("assertion") or "").split(".")[1])["aud"] == legacy
    assert second.path == "/token"


def test_the_key_files_token_uri_is_shown_logged_and_keyed(
    google: Google,
    make_registry: MakeRegistry,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """ux F15: the URL in ``profiles``, ``explain``, the INFO log and the cache key is the
    one the request goes to: the key file's ``token_uri`` unless ``token_url`` is set."""
    import logging

    import yaml

    from tests.cli.test_cli import run

    legacy = f"{google.emulator.url}/o/oauth2/token"
    key = write_service_account_key(
        tmp_path / "legacy.json",
        client_email=SA,
        token_uri=legacy,
        private_key=private_key("rsa"),
        private_key_id=google.key.private_key_id,
    )
    key.path.chmod(0o600)
    from_file = google.profile(service_account_key={"file": str(key.path)})
    from_file.pop("token_url")
    override = google.profile(service_account_key={"file": str(key.path)})
    registry = make_registry({"from-file": from_file, "override": override})
    assert registry.runtime("from-file").cache_key_parts["token_url"] == legacy
    assert registry.runtime("override").cache_key_parts["token_url"] == google.token_url
    with caplog.at_level(logging.INFO, logger="tokenrack.fetch"):
        registry.get_token("from-file")
    fetching = [r.getMessage() for r in caplog.records if "fetching token" in r.getMessage()]
    assert fetching == [f"fetching token for profile from-file from {legacy} (reason: cold)"]
    assert google.emulator.requests[0].path == "/o/oauth2/token"

    config = tmp_path / "tokenrack.yaml"
    config.write_text(yaml.safe_dump({"version": 1, "profiles": {"from-file": from_file}}))
    config.chmod(0o600)
    listed = run("profiles", "--json", config=config)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)[0]["token_url"] == legacy
    explained = run("explain", "from-file", config=config)
    assert explained.returncode == 0, explained.stderr
    assert f"token URL: {legacy}\n" in explained.stdout
    assert f"  token_url: {legacy}\n" in explained.stdout
    assert "oauth2.googleapis.com" not in explained.stdout


def test_a_key_that_is_not_the_accounts_gets_invalid_jwt_signature(
    google: Google, make_registry: MakeRegistry, tmp_path: Path
) -> None:
    # Same account, same key id, another private key: only the signature can tell.
    forged = write_service_account_key(
        tmp_path / "forged.json",
        client_email=SA,
        private_key=private_key("rsa-other"),
        private_key_id=google.key.private_key_id,
    )
    profile = google.profile(service_account_key={"file": str(forged.path)})
    with pytest.raises(InvalidGrantError) as caught:
        make_registry({"gcp": profile}).get_token("gcp")
    assert caught.value.status == 400
    assert caught.value.error_description == "Invalid JWT Signature."


def test_scopes_are_required_by_the_provider_and_by_google(
    google: Google, make_registry: MakeRegistry
) -> None:
    profile = google.profile()
    profile.pop("scopes")
    with pytest.raises(ConfigError, match=r"profiles\.gcp\.scopes: required, but missing"):
        make_registry({"gcp": profile})
    with pytest.raises(ConfigError, match=r"profiles\.gcp\.scopes"):
        make_registry({"gcp": google.profile(scopes=[])})
    now = int(time.time())
    answer = google.post({"iss": SA, "aud": google.token_url, "iat": now, "exp": now + 600})
    assert answer.status_code == 400
    assert answer.json() == {
        "error": "invalid_scope",
        "error_description": "Empty or missing scope not allowed.",
    }


def test_a_stale_assertion_is_refused(
    google: Google, make_registry: MakeRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tokenrack_providers.google

    # A host whose clock is two hours behind signs an assertion that expired long ago.
    monkeypatch.setattr(
        tokenrack_providers.google, "time", SimpleNamespace(time=lambda: time.time() - 7200)
    )
    with pytest.raises(InvalidGrantError) as caught:
        make_registry({"gcp": google.profile()}).get_token("gcp")
    assert "short-lived token (60 minutes)" in (caught.value.error_description or "")


def test_assertions_living_longer_than_an_hour_are_refused(
    google: Google, make_registry: MakeRegistry
) -> None:
    with pytest.raises(ConfigError, match=r"profiles\.gcp\.assertion_lifetime"):
        make_registry({"gcp": google.profile(assertion_lifetime=7200)})
    now = int(time.time())
    claims = {"iss": SA, "scope": STORAGE, "aud": google.token_url, "iat": now}
    too_long = google.post({**claims, "exp": now + 7200})
    assert too_long.status_code == 400 and too_long.json()["error"] == "invalid_grant"
    assert "short-lived token" in too_long.json()["error_description"]
    assert google.post({**claims, "exp": now + 3600}).status_code == 200


def test_a_shorter_assertion_lifetime_is_honoured(
    google: Google, make_registry: MakeRegistry
) -> None:
    make_registry({"gcp": google.profile(assertion_lifetime=600)}).get_token("gcp")
    claims = decode((google.emulator.requests[0].form_value("assertion") or "").split(".")[1])
    assert claims["exp"] - claims["iat"] == 600


def test_subject_for_domain_wide_delegation(google: Google, make_registry: MakeRegistry) -> None:
    registry = make_registry(
        {
            "as-admin": google.profile(subject=ADMIN),
            "as-itself": google.profile(),
            "as-stranger": google.profile(subject="someone@acme.example"),
        }
    )
    delegated = registry.get_token("as-admin")
    own = registry.get_token("as-itself")
    assert delegated.access_token != own.access_token  # the subject separates tokens
    first, second = google.emulator.requests
    assert decode((first.form_value("assertion") or "").split(".")[1])["sub"] == ADMIN
    assert "sub" not in decode((second.form_value("assertion") or "").split(".")[1])
    with pytest.raises(UnauthorizedClientError) as caught:
        registry.get_token("as-stranger")
    assert caught.value.status == 401
    assert "not authorized for any of the scopes" in (caught.value.error_description or "")


def test_cache_keys_follow_the_account_scopes_and_subject(
    google: Google, make_registry: MakeRegistry
) -> None:
    registry = make_registry(
        {
            "a": google.profile(),
            "a-reordered": google.profile(scopes=[BIGQUERY, STORAGE]),
            "other-account": google.profile(service_account=OTHER_SA),
            "fewer-scopes": google.profile(scopes=[STORAGE]),
            "delegated": google.profile(subject=ADMIN),
        }
    )
    keys = {name: registry.runtime(name).cache_key for name in registry.profiles()}
    assert keys["a"] == keys["a-reordered"]
    assert len({keys[n] for n in ("a", "other-account", "fewer-scopes", "delegated")}) == 4
    parts = registry.runtime("delegated").cache_key_parts
    assert parts["service_account"] == SA and parts["subject"] == ADMIN


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (f"not json {SECRET}", "the text is not JSON"),
        (json.dumps([SECRET]), "expected a JSON object"),
        (
            key_json(type="authorized_user"),
            "the key file's type is 'authorized_user', not 'service_account'",
        ),
        (key_json(client_email=None), "no client_email"),
        (key_json(private_key=None), "no PEM private_key"),
        (
            key_json(
                private_key=f"-----BEGIN PRIVATE KEY-----\n{SECRET}\n-----END PRIVATE KEY-----"
            ),
            "private_key is unusable: not a usable PEM private key",
        ),
        (key_json(private_key=private_pem("p256")), "signing_alg RS256 does not fit this key"),
        (key_json(token_uri=f"ftp://{SECRET}"), "token_uri is not an http(s) URL"),
        (key_json(private_key_id=12), "private_key_id is not a string"),
        (key_json(OTHER_SA), f"the key file is {OTHER_SA}'s, and the profile names"),
    ],
)
def test_an_unusable_key_file_is_a_config_error_that_never_quotes_it(
    text: str, words: str, google: Google, make_registry: MakeRegistry, tmp_path: Path
) -> None:
    path = tmp_path / "broken.json"
    path.write_text(text)
    registry = make_registry({"gcp": google.profile(service_account_key={"file": str(path)})})
    with pytest.raises(ConfigError) as caught:
        registry.get_token("gcp")
    error = caught.value
    assert error.path == "profiles.gcp.service_account_key" and error.profile == "gcp"
    assert words in str(error)
    assert "BEGIN" not in str(error)  # the leak guard checks the SECRET canary in it
    assert google.emulator.request_count == 0


def test_client_credentials_and_auth_methods_are_refused_at_load(
    google: Google, make_registry: MakeRegistry
) -> None:
    with pytest.raises(ConfigError, match=r"profiles\.gcp\.client_id: google authenticates"):
        make_registry({"gcp": google.profile(client_id="123")})
    with pytest.raises(ConfigError, match=r"does not support 'client_secret_post'"):
        make_registry({"gcp": google.profile(auth_method="client_secret_post")})
    with pytest.raises(ConfigError, match=r"profiles\.gcp\.service_account"):
        make_registry({"gcp": google.profile(service_account="not-an-email")})


def test_the_personality_refuses_other_grants_and_client_authentication(google: Google) -> None:
    url, ca = google.token_url, str(google.certs.ca_path)
    other = requests.post(url, data={"grant_type": "client_credentials"}, verify=ca, timeout=5)
    assert other.status_code == 400 and other.json()["error"] == "unsupported_grant_type"
    now = int(time.time())
    claims = {"iss": SA, "scope": STORAGE, "aud": google.token_url, "iat": now, "exp": now + 60}
    with_secret = google.post(claims, client_id="x", client_secret="y")
    assert with_secret.status_code == 400 and with_secret.json()["error"] == "invalid_request"
    stranger = google.post({**claims, "iss": OTHER_SA})
    assert stranger.json() == {
        "error": "invalid_grant",
        "error_description": "Invalid grant: account not found",
    }
    wrong_aud = google.post({**claims, "aud": "https://oauth2.googleapis.com/token"})
    assert wrong_aud.json()["error"] == "invalid_grant"
    assert "audience" in wrong_aud.json()["error_description"]


def test_the_assertion_and_key_never_reach_logs(
    google: Google, make_registry: MakeRegistry, leak_guard: Any
) -> None:
    make_registry({"gcp": google.profile()}).get_token("gcp")
    assertion = google.emulator.requests[0].form_value("assertion") or ""
    pem_body = json.loads(google.key.path.read_text())["private_key"].splitlines()[1]
    assert assertion and pem_body
    assert not any(assertion in line or pem_body in line for line in leak_guard.lines)


def test_missing_jwt_extra_is_named_at_load() -> None:
    code = (
        "import sys; sys.modules['jwt'] = None\n"
        "from tokenrack import Registry, ConfigError\n"
        "try:\n"
        "    Registry.from_dict({'version': 1, 'profiles': {'g': {'provider': 'google',\n"
        "        'service_account': 'a@b.iam.gserviceaccount.com', 'scopes': ['s'],\n"
        "        'service_account_key': {'file': '/sa.json'}}}}).runtime('g')\n"
        "except ConfigError as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "google signs its grant with the tokenrack[jwt] extra" in done.stdout
    assert "profiles.g.provider" in done.stdout


def test_explain_shows_the_signed_grant_but_never_the_assertion(
    google: Google, tmp_path: Path
) -> None:
    import yaml

    from tests.cli.test_cli import run

    config = tmp_path / "tokenrack.yaml"
    broken = tmp_path / "broken.json"
    broken.write_text("{}")
    profiles = {
        "gcp": google.profile(subject=ADMIN),
        "broken": google.profile(service_account_key={"file": str(broken)}),
    }
    config.write_text(yaml.safe_dump({"version": 1, "profiles": profiles}))
    done = run("explain", "gcp", config=config)
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if "assertion=" in x)
    assert line.strip().startswith("assertion=*** (a RS256 JWT signed for every fetch: ")
    for shown in (f"iss={SA}", f"sub={ADMIN}", f"scope={STORAGE} {BIGQUERY}", "exp = iat + 3600s"):
        assert shown in line
    assert f"kid={google.key.private_key_id}" in line
    assert "auth method: none" in done.stdout
    assert "eyJ" not in done.stdout  # no JWT (a JOSE header's base64 starts so) is printed
    assert google.emulator.request_count == 0  # explaining sends nothing
    failed = run("explain", "broken", config=config)
    assert failed.returncode == 2
    assert (
        f"profiles.broken.service_account_key: file {broken}: the key file has no client_email"
        in failed.stderr
    )
