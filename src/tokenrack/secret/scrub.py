"""Masking a server's echo of the secrets it was sent, in every form it may take.

A server may quote what it received in its error: verbatim, percent-encoded, as the base64
of the Basic credentials, JSON-escaped, in hex, or upper-cased. A :class:`Scrubber` holds
the request's secrets as :class:`~tokenrack.secret.value.Secret` values and reveals them
only inside :meth:`Scrubber.scrub`, so a traceback's frame locals show ``Scrubber(***)``.
Text cut short by :func:`cut` may end in the first part of an echo; that part is masked too.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus, unquote

from tokenrack.secret.value import Secret

__all__ = ["CUT_MARK", "Scrubber", "cut", "echo_forms"]

CUT_MARK = "…(cut)"
"""What :func:`cut` puts where it cut a server's text short."""

MASK = "***"
_MIN_FORM = 4  # a derived form shorter than this would mask ordinary words
_MIN_TAIL = 3  # the shortest beginning of an echo masked before a cut


def cut(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, marked with :data:`CUT_MARK` when it was longer."""
    return text if len(text) <= limit else text[:limit] + CUT_MARK


def _b64_forms(raw: bytes) -> set[str]:
    forms: set[str] = set()
    for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        text = encoded.decode("ascii")
        forms.update((text, text.rstrip("=")))
    return forms


def _basic_forms(header: str) -> set[str]:
    """The forms of ``Basic <base64>`` credentials: both encodings, padded or not."""
    encoded = header[len("Basic ") :].strip()
    forms = {encoded, encoded.rstrip("=")}
    try:
        pair = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return forms
    client_id, _, secret = pair.partition(":")
    raw_id, raw_secret = unquote(client_id), unquote(secret)
    for form in (
        f"{raw_id}:{raw_secret}",
        f"{quote(raw_id, safe='')}:{quote(raw_secret, safe='')}",
        pair,
    ):
        forms |= _b64_forms(form.encode())
    forms |= echo_forms(raw_secret)
    return forms


def echo_forms(value: str) -> set[str]:
    """Every form of ``value`` a server may echo: raw, percent-encoded, JSON, hex, base64.

    ``Basic …`` credentials add the base64 of the id and secret with and without the
    RFC 6749 form-encoding, and the secret's own forms. Case is left to the matcher.
    """
    if not value:
        return set()
    json_ascii = json.dumps(value)[1:-1]
    json_plain = json.dumps(value, ensure_ascii=False)[1:-1]
    forms = {
        value,
        quote(value, safe=""),
        quote(value),
        quote_plus(value),
        quote_plus(value, safe="/"),
        json_ascii,
        json_plain,
        json_ascii.replace("/", "\\/"),
        json_plain.replace("/", "\\/"),
        value.encode().hex(),
        *_b64_forms(value.encode()),
    }
    if value.startswith("Basic "):
        forms |= _basic_forms(value)
    return {form for form in forms if form == value or len(form) >= _MIN_FORM}


class Scrubber:
    """Masks the echoes of some secrets in a text; its repr is ``Scrubber(***)``.

    Args:
        secrets: The secrets to mask (empty ones are ignored).
    """

    __slots__ = ("_pattern", "_secrets")

    def __init__(self, secrets: Iterable[Secret]) -> None:
        self._secrets = tuple(s for s in secrets if s)
        self._pattern: re.Pattern[str] | None = None

    def __repr__(self) -> str:
        return "Scrubber(***)"

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def __call__(self, text: str) -> str:
        """Same as :meth:`scrub`."""
        return self.scrub(text)

    def scrub(self, text: str) -> str:
        """``text`` with every echo of the secrets, in any form and case, masked.

        Also masks the beginning of an echo that ends where :func:`cut` cut a text short.
        Linear in ``text``: a literal alternation, no backtracking.
        """
        if not self._secrets or not text:
            return text
        pattern = self._pattern
        if pattern is None:
            forms: set[str] = set()
            for secret in self._secrets:
                forms |= echo_forms(secret.reveal())
            ordered = sorted(forms, key=len, reverse=True)
            pattern = re.compile("|".join(map(re.escape, ordered)), re.IGNORECASE)
            self._pattern = pattern
        text = pattern.sub(MASK, text)
        return self._mask_cut_tails(text) if CUT_MARK in text else text

    def _mask_cut_tails(self, text: str) -> str:
        forms: set[str] = set()
        for secret in self._secrets:
            forms |= echo_forms(secret.reveal())
        pieces = text.split(CUT_MARK)
        for index, piece in enumerate(pieces[:-1]):
            lowered = piece.lower()
            longest = 0
            for form in forms:
                start = min(len(form) - 1, len(piece))
                for size in range(start, _MIN_TAIL - 1, -1):
                    if size <= longest:
                        break
                    if lowered.endswith(form[:size].lower()):
                        longest = size
                        break
            if longest:
                pieces[index] = piece[:-longest] + MASK
        return CUT_MARK.join(pieces)
