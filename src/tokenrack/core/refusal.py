"""A refusal of the client, and the cooldown during which it is repeated, not re-asked.

After ``invalid_client`` or ``unauthorized_client`` the same request would be refused
again, and asking again hammers the vendor (some lock the account). A refresh wrapped by
:func:`with_cooldown` raises :class:`Refused`, an explicit outcome carrying the original
error and the cooldown; the token store repeats that error to callers until the cooldown
is over, without another request. Any other failure gets the store's failure backoff
instead (1, 2, 5, 10, then 30 s), during which it is repeated the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tokenrack.errors import InvalidClientError, UnauthorizedClientError

__all__ = ["Refused", "is_refusal", "with_cooldown"]

T = TypeVar("T")


class Refused(Exception):  # noqa: N818 - an outcome the store unwraps, never seen by callers
    """A refresh outcome: the server refused the client; repeat ``error`` for a while.

    Attributes:
        error: The refusal, as callers receive it.
        cooldown: Seconds during which it is repeated without a request (> 0).
    """

    def __init__(self, error: BaseException, cooldown: float) -> None:
        super().__init__(str(error))
        self.error = error
        self.cooldown = cooldown


def is_refusal(error: BaseException) -> bool:
    """Whether the server refused the client itself (RFC 6749 §5.2: a bad or unknown secret)."""
    return isinstance(error, (InvalidClientError, UnauthorizedClientError))


def with_cooldown(
    refresh: Callable[[str], T],
    cooldown: float,
    on_refusal: Callable[[], None] | None = None,
) -> Callable[[str], T]:
    """``refresh``, with a refusal of the client raised as :class:`Refused`.

    Args:
        refresh: Obtains a token, called with the reason.
        cooldown: The profile's ``refusal_cooldown``; 0 turns the cooldown off.
        on_refusal: Called once for each refusal the server actually sent (not for the
            repetitions during the cooldown), before it is raised.
    """
    if cooldown <= 0 and on_refusal is None:
        return refresh

    def refresh_or_refuse(reason: str) -> T:
        try:
            return refresh(reason)
        except Exception as error:
            if is_refusal(error):
                if on_refusal is not None:
                    on_refusal()
                if cooldown > 0:
                    raise Refused(error, cooldown) from None
            raise

    return refresh_or_refuse
