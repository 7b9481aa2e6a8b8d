"""The echo scrubber: every form a server may echo a secret in is masked (issue 10, F7)."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

import pytest

from tokenrack.secret.scrub import CUT_MARK, Scrubber, cut
from tokenrack.secret.value import Secret

SECRET = "Pa55+w/rd=&é canary"
CLIENT = "svc id"
RFC = base64.b64encode(f"{quote(CLIENT, safe='')}:{quote(SECRET, safe='')}".encode()).decode()
RAW = base64.b64encode(f"{CLIENT}:{SECRET}".encode()).decode()
FORMS = {
    "raw": SECRET,
    "quote": quote(SECRET),
    "quote safe=''": quote(SECRET, safe=""),
    "quote lower-case hex": quote(SECRET, safe="").lower(),
    "quote_plus": quote_plus(SECRET),
    "json": json.dumps(SECRET)[1:-1],
    "json unicode": json.dumps(SECRET, ensure_ascii=False)[1:-1],
    "json escaped slash": json.dumps(SECRET)[1:-1].replace("/", "\\/"),
    "hex": SECRET.encode().hex(),
    "hex upper": SECRET.encode().hex().upper(),
    "upper": SECRET.upper(),
    "base64": base64.b64encode(SECRET.encode()).decode(),
    "basic rfc6749": RFC,
    "basic rfc6749 unpadded": RFC.rstrip("="),
    "basic raw": RAW,
    "basic raw unpadded": RAW.rstrip("="),
}


@pytest.fixture
def scrubber() -> Scrubber:
    # What the fetch holds: the client secret and the Basic header the request carried.
    return Scrubber([Secret(SECRET), Secret("Basic " + RFC)])


@pytest.mark.parametrize("form", list(FORMS))
def test_every_form_is_masked(form: str, scrubber: Scrubber) -> None:
    text = scrubber.scrub(f"server says [{FORMS[form]}] here")
    assert text == "server says [***] here"


def test_repr_never_shows_a_secret(scrubber: Scrubber) -> None:
    assert repr(scrubber) == "Scrubber(***)"
    scrubber.scrub("warm the pattern")
    assert repr(scrubber) == "Scrubber(***)" and SECRET not in repr([scrubber])


def test_an_echo_split_by_a_cut_is_masked_up_to_it(scrubber: Scrubber) -> None:
    text = cut("x" * 90 + SECRET, 100)
    assert text.endswith(CUT_MARK)
    assert scrubber.scrub(text) == "x" * 90 + "***" + CUT_MARK


def test_empty_secrets_mask_nothing() -> None:
    assert Scrubber([Secret("")]).scrub("anything") == "anything"
    assert not Scrubber([])
