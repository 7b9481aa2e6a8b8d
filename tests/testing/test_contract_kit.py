"""The provider contract kit (issue 11, ux F9, F10): no hard-coded ``grant_type``, test
secrets too short to search for refused with a message, failures that say what was found
where. Each case is a real pytest run of a plugin author's test module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

MODULE = '''
from tokenrack.plugin import Provider, Secret, TokenRequest
from tokenrack.testing import ProviderContractTests


class PlainProvider(Provider):
    name = "plain"


class CamelProvider(Provider):
    """A vendor that wants {"grantType", "clientId", "clientSecret"} as JSON."""

    name = "camel"
    default_auth_method = "none"
    supported_auth_methods = frozenset({"none"})
    secret_options = frozenset({"client_secret"})

    def token_flow(self, secrets):
        answer = yield TokenRequest(
            url=self.token_url(),
            form=(
                ("grantType", self.grant_type),
                ("clientId", self.client_id),
                ("clientSecret", secrets["client_secret"]),
            ),
            body_format="json",
            authenticate=False,
        )
        return self.parse_token_response(answer)


class LeakyProvider(Provider):
    name = "leaky"

    def build_token_request(self):
        secret = self.options["client_secret"].reveal()
        return super().build_token_request().with_header("X-Acme-Key", secret)


URL = "https://idp.acme.example/oauth/token"


class TestShortSecret(ProviderContractTests):
    provider_class = PlainProvider
    entry_point = "plain"
    profile = {"client_id": "id", "client_secret": "s", "token_url": URL}


class TestSecretInUrl(ProviderContractTests):
    provider_class = PlainProvider
    entry_point = "plain"
    profile = {"client_id": "id", "client_secret": "idp.acme.example", "token_url": URL}


class TestCamelByValue(ProviderContractTests):
    provider_class = CamelProvider
    entry_point = "camel"
    profile = {"client_id": "id", "client_secret": "contract-secret", "token_url": URL}


class TestCamelByName(TestCamelByValue):
    grant_type_field = "grantType"


class TestCamelWrongName(TestCamelByValue):
    grant_type_field = "grant_type"


class TestLeaky(ProviderContractTests):
    provider_class = LeakyProvider
    entry_point = "leaky"
    profile = {"client_id": "id", "client_secret": "contract-secret", "token_url": URL}
'''


def run_kit(tmp_path: Path) -> dict[str, str]:
    """Each failed test's ``Class::test`` mapped to its failure message."""
    (tmp_path / "test_kit_cases.py").write_text(MODULE)
    report = tmp_path / "report.xml"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            "--junitxml",
            str(report),
            str(tmp_path / "test_kit_cases.py"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert report.exists(), done.stdout + done.stderr
    failed = {}
    for case in ElementTree.parse(report).iter("testcase"):
        failure = case.find("failure")
        if failure is not None:
            name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
            failed[name] = failure.get("message", "")
    return failed


def test_the_kit_reports_each_case_with_a_message_saying_what_and_where(tmp_path: Path) -> None:
    failed = run_kit(tmp_path)

    # F9: "s" is found in "https"; now the kit refuses it before searching.
    for test in (
        "test_request_holds_no_plain_secret",
        "test_cache_key_parts_are_stable_and_never_secret",
    ):
        reason = failed.pop(f"TestShortSecret::{test}")
        assert "TestShortSecret.profile['client_secret'] is 1 characters; use 8 or more" in reason
        assert "assert False" not in reason
        reason = failed.pop(f"TestSecretInUrl::{test}")
        assert "profile['client_secret'] occurs in the token URL" in reason

    # F10: a vendor that spells it grantType passes, by value or by a declared name.
    reason = failed.pop("TestCamelWrongName::test_builds_a_request_to_an_https_or_loopback_url")
    assert (
        "form field 'grant_type' is None, expected the provider's grant_type 'client_credentials'"
        in reason
    )
    assert "['grantType', 'clientId', 'clientSecret']" in reason

    reason = failed.pop("TestLeaky::test_request_holds_no_plain_secret")
    assert (
        "profile['client_secret'] appears unwrapped in build_token_request()'s header 'X-Acme-Key'"
        in reason
    )

    assert failed == {}  # everything else passed, the camel vendor's whole contract included
