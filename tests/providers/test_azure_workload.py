"""Entra workload identity: ``workload_identity: true`` and the federated token file (issue 13).

The Entra personality holds a federated identity credential trusting a test "cluster" for
one service account; the token file is written by the test, as the kubelet would.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from tokenrack_providers.testing.personalities import EntraPersonality

from tests.keys import private_key, public_pem
from tests.providers.conftest import StartEmulator
from tokenrack.core.registry import Registry
from tokenrack.errors import ConfigError, InvalidClientError
from tokenrack.testing import EmulatorClient, TokenEmulator
from tokenrack.testing.federated import FederatedCredential
from tokenrack.testing.tls import TestCertificates

APP = "6731de76-14a6-49ae-97bc-6eba6914391e"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLUSTER = "https://oidc.prod-aks.azure.com/00000000-0000-0000-0000-000000000000/"
SUBJECT = "system:serviceaccount:billing:worker"
AUDIENCE = "api://AzureADTokenExchange"
GRAPH = "https://graph.microsoft.com"


def projected(*, issued: float | None = None, audience: str = AUDIENCE) -> str:
    now = int(time.time() if issued is None else issued)
    claims = {
        "iss": CLUSTER,
        "sub": SUBJECT,
        "aud": [audience],
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, private_key("rsa"), algorithm="RS256")


@pytest.fixture
def entra(start: StartEmulator) -> TokenEmulator:
    trust = FederatedCredential(APP, CLUSTER, SUBJECT, AUDIENCE, public_pem("rsa"))
    return start(EntraPersonality(federated=[trust]), [EmulatorClient(APP)])


def webhook_environ(entra: TokenEmulator, token_file: Path) -> dict[str, str]:
    """What the workload identity webhook injects into the pod."""
    return {
        "AZURE_CLIENT_ID": APP,
        "AZURE_TENANT_ID": TENANT,
        "AZURE_FEDERATED_TOKEN_FILE": str(token_file),
        "AZURE_AUTHORITY_HOST": f"https://127.0.0.1:{entra.port}/",
    }


def workload_profile(certs: TestCertificates, **options: Any) -> dict[str, Any]:
    return {
        "provider": "azure",
        "workload_identity": True,
        "resource": GRAPH,
        "ca_bundle": str(certs.ca_path),
        "retries": {"attempts": 1},
        **options,
    }


def test_workload_identity_reads_what_the_webhook_injects(
    entra: TokenEmulator,
    certs: TestCertificates,
    tmp_path: Path,
    make_registry: Callable[..., Registry],
) -> None:
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text(projected())
    registry = make_registry(
        {"graph": workload_profile(certs)}, environ=webhook_environ(entra, token_file)
    )
    assert registry.get_token("graph").access_token
    sent = entra.requests[0]
    assert sent.path == f"/{TENANT}/oauth2/v2.0/token"
    form = dict(sent.form)
    assert form["client_id"] == APP
    assert form["client_assertion"] == token_file.read_text()
    assert form["scope"] == f"{GRAPH}/.default"
    assert sent.auth_method == "client_assertion"


def test_the_profile_wins_over_the_environment(
    entra: TokenEmulator,
    certs: TestCertificates,
    tmp_path: Path,
    make_registry: Callable[..., Registry],
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(projected())
    environ = webhook_environ(entra, tmp_path / "elsewhere")
    environ["AZURE_TENANT_ID"] = "not-this-tenant"
    profile = workload_profile(certs, tenant=TENANT, client_assertion={"file": str(token_file)})
    registry = make_registry({"graph": profile}, environ=environ)
    registry.get_token("graph")
    assert entra.requests[0].path == f"/{TENANT}/oauth2/v2.0/token"


def test_workload_identity_outside_a_mutated_pod_names_the_variables(
    certs: TestCertificates, make_registry: Callable[..., Registry]
) -> None:
    with pytest.raises(ConfigError) as raised:
        make_registry({"graph": workload_profile(certs)}, environ={"AZURE_CLIENT_ID": APP})
    message = str(raised.value)
    assert "AZURE_TENANT_ID and AZURE_FEDERATED_TOKEN_FILE" in message
    assert "profiles.graph.workload_identity" in message


def test_aadsts700024_reads_the_file_again_and_succeeds_without_a_cooldown(
    entra: TokenEmulator,
    certs: TestCertificates,
    tmp_path: Path,
    make_registry: Callable[..., Registry],
) -> None:
    """Entra refuses the file's token as out of its time range; the kubelet has meanwhile
    written a fresh one: one re-read and one more request, no refusal cooldown."""
    token_file = tmp_path / "token"
    # Valid by its exp (so sent), but issued "in the future" for Entra: AADSTS700024.
    token_file.write_text(projected(issued=time.time() + 120))
    fresh = projected()
    original = entra.personality.authenticate

    def rotate_after_first(emulator: TokenEmulator, exchange: Any) -> Any:
        verdict = original(emulator, exchange)
        token_file.write_text(fresh)
        return verdict

    entra.personality.authenticate = rotate_after_first  # type: ignore[method-assign]
    registry = make_registry(
        {"graph": workload_profile(certs, refusal_cooldown=600)},
        environ=webhook_environ(entra, token_file),
    )
    assert registry.get_token("graph").access_token
    assert entra.request_count == 2
    assert dict(entra.requests[1].form)["client_assertion"] == fresh


def test_aadsts700024_is_what_users_see_when_the_file_is_not_rotated(
    entra: TokenEmulator,
    certs: TestCertificates,
    tmp_path: Path,
    make_registry: Callable[..., Registry],
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(projected(issued=time.time() + 120))
    registry = make_registry(
        {"graph": workload_profile(certs)}, environ=webhook_environ(entra, token_file)
    )
    with pytest.raises(InvalidClientError) as raised:
        registry.get_token("graph")
    assert "AADSTS700024" in str(raised.value)
    assert entra.request_count == 2  # the first answer, then one re-read and retry
    assert token_file.read_text() not in str(raised.value)


def test_a_federated_token_for_another_audience_is_aadsts70021(
    entra: TokenEmulator,
    certs: TestCertificates,
    tmp_path: Path,
    make_registry: Callable[..., Registry],
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(projected(audience="api://other"))
    registry = make_registry(
        {"graph": workload_profile(certs)}, environ=webhook_environ(entra, token_file)
    )
    with pytest.raises(InvalidClientError) as raised:
        registry.get_token("graph")
    assert "AADSTS70021" in str(raised.value)
