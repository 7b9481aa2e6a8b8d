"""``auth_method: auto``: choosing a client authentication method safely (pure policy).

A client is registered for ONE method; a server advertises every method it supports. So
``auto`` does not pick "the strongest advertised method" (that would send a secret as a
``client_secret_jwt`` assertion to a server whose registration says ``client_secret_basic``),
it follows the profile's material:

- an assertion read from elsewhere (``client_assertion: {file: …}``, workload identity):
  ``client_assertion``;
- a private key: ``private_key_jwt``;
- a client certificate and key: ``tls_client_auth``;
- a client secret: ``client_secret_basic`` (RFC 6749 §2.3.1 requires every server to
  support it), then ``client_secret_post`` once, only after a 401 or ``invalid_client``:
  never on a 5xx, a timeout or another error (the flaw of golang/oauth2's auto-detection,
  which falls back on any error and so hides outages).

``client_secret_jwt`` and ``self_signed_tls_client_auth`` (and third-party methods) are
never chosen by ``auto``: a profile names them. Server metadata (RFC 8414
``token_endpoint_auth_methods_supported``) only narrows these candidates, never adds one.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

__all__ = [
    "AUTO",
    "AUTO_ORDER",
    "MATERIAL_KEYS",
    "NAMED_ONLY",
    "SECRET_METHODS",
    "NoCommonMethodError",
    "ordered_candidates",
    "plan",
    "pinned_first",
]

AUTO = "auto"
SECRET_METHODS = ("client_secret_basic", "client_secret_post")
"""The methods that send the client secret itself, in the order ``auto`` tries them."""
AUTO_ORDER = ("client_assertion", "private_key_jwt", "tls_client_auth", *SECRET_METHODS)
"""Every method ``auto`` may use, asymmetric keys and certificates before shared secrets."""
MATERIAL_KEYS: dict[str, tuple[str, ...]] = {
    "client_assertion": ("client_assertion",),
    "private_key_jwt": ("private_key",),
    "tls_client_auth": ("client_cert", "client_key"),
    "client_secret_basic": ("client_secret",),
    "client_secret_post": ("client_secret",),
}
"""Keys each :data:`AUTO_ORDER` method needs among its ``required_options``: a profile
without them has no material for it, so it is not imported to ask (issue 15)."""
NAMED_ONLY = ("client_secret_jwt", "self_signed_tls_client_auth")
"""Methods ``auto`` never picks, even when advertised: the registration must say so."""


class NoCommonMethodError(ValueError):
    """The server advertises no method the profile has material for."""


def ordered_candidates(
    supported: Collection[str], has_material: Callable[[str], bool]
) -> list[str]:
    """The methods of :data:`AUTO_ORDER` the provider supports and the profile has material for.

    Anything else (``client_secret_jwt``, ``self_signed_tls_client_auth``, third-party
    methods, ``none``) is never a candidate: a profile names it.
    """
    return [m for m in AUTO_ORDER if m in supported and has_material(m)]


def plan(
    candidates: Sequence[str], advertised: Collection[str] | None, *, public_allowed: bool
) -> list[str]:
    """The methods to try, in order (a second entry is tried only after a refusal).

    Args:
        candidates: From :func:`ordered_candidates`.
        advertised: The server's ``token_endpoint_auth_methods_supported``, or None.
        public_allowed: The provider supports ``none`` (used only when advertised and the
            profile has no credentials at all).

    Raises:
        NoCommonMethodError: Nothing the server advertises can be used.
    """
    usable = list(candidates) if advertised is None else [m for m in candidates if m in advertised]
    if not usable:
        if advertised is not None and not candidates and public_allowed and "none" in advertised:
            return ["none"]
        raise NoCommonMethodError(_nothing_in_common(candidates, advertised))
    if usable[0] in SECRET_METHODS:
        # basic, then post after a refusal: whichever of the two the server allows.
        return [m for m in usable if m in SECRET_METHODS]
    return [usable[0]]


def pinned_first(methods: Sequence[str], pinned: str | None) -> list[str]:
    """``methods`` with ``pinned`` moved to the front, if it is one of them.

    A pin (learned in this process, or read from a shared cache others can write) may only
    reorder the planned methods: one that is not planned is ignored, and none is dropped,
    so the fallback after a refusal stays.
    """
    if pinned is None or pinned not in methods:
        return list(methods)
    return [pinned, *(m for m in methods if m != pinned)]


def _nothing_in_common(candidates: Sequence[str], advertised: Collection[str] | None) -> str:
    if advertised is None:
        return "the profile has no client credentials"
    message = (
        f"the server supports {', '.join(sorted(advertised)) or 'no methods'}; "
        f"the profile has material for {', '.join(candidates) or 'none of them'}"
    )
    named = [m for m in NAMED_ONLY if m in advertised]
    if named:
        message += (
            f" (auto never picks {' or '.join(named)}: name it as auth_method if the client "
            "is registered for it)"
        )
    return message
