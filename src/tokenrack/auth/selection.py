"""``auth_method: auto``: choosing a client authentication method safely (pure policy).

With server metadata (RFC 8414 ``token_endpoint_auth_methods_supported``), the first method
in :data:`PREFERENCE` that the server advertises and the profile has material for. Without
metadata, ``client_secret_basic`` first and, only on a 401 or ``invalid_client``,
``client_secret_post`` once — never on 5xx, timeouts or other errors (the flaw of
golang/oauth2's auto-detection, which falls back on any error and so hides outages).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

__all__ = ["AUTO", "PREFERENCE", "NoCommonMethodError", "ordered_candidates", "plan"]

AUTO = "auto"
PREFERENCE = (
    "private_key_jwt",
    "tls_client_auth",
    "self_signed_tls_client_auth",
    "client_secret_jwt",
    "client_secret_basic",
    "client_secret_post",
)
"""Most secure first: asymmetric keys and certificates before shared secrets."""


class NoCommonMethodError(ValueError):
    """The server advertises no method the profile has material for."""


def ordered_candidates(
    supported: Collection[str], has_material: Callable[[str], bool]
) -> list[str]:
    """The provider's methods the profile has material for, most preferred first.

    Methods outside :data:`PREFERENCE` (third-party ones) follow it in name order; ``none``
    is never a candidate here: a public client must say so.
    """
    known = [m for m in PREFERENCE if m in supported]
    others = sorted(m for m in supported if m not in PREFERENCE and m != "none")
    return [m for m in (*known, *others) if has_material(m)]


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
    if advertised is not None:
        for method in candidates:
            if method in advertised:
                return [method]
        if not candidates and public_allowed and "none" in advertised:
            return ["none"]
        raise NoCommonMethodError(
            f"the server supports {', '.join(sorted(advertised)) or 'no methods'}; "
            f"the profile has material for {', '.join(candidates) or 'none of them'}"
        )
    if "client_secret_basic" in candidates:
        if "client_secret_post" in candidates:
            return ["client_secret_basic", "client_secret_post"]
        return ["client_secret_basic"]
    if candidates:
        return [candidates[0]]
    raise NoCommonMethodError("the profile has no client credentials")
