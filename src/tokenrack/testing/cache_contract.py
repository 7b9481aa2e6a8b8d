"""The contract every token cache backend passes, ours and third parties' alike.

Subclass :class:`TokenCacheContractTests` in a pytest module and provide a ``cache``
fixture that yields a fresh, empty backend (and cleans up after it)::

    class TestMyCache(TokenCacheContractTests):
        @pytest.fixture
        def cache(self, tmp_path):
            backend = MyCache({"where": str(tmp_path)}, secrets={})
            yield backend
            backend.close()

Checks are counts and states, never durations; the only waits are bounded.
"""

from __future__ import annotations

import time
from typing import ClassVar

from tokenrack.cache.backend import TokenCache

__all__ = ["TokenCacheContractTests"]


class TokenCacheContractTests:
    """Checks a :class:`~tokenrack.cache.backend.TokenCache` against the backend contract.

    Attributes:
        leases_expire: Whether an unreleased lock ends after its lease within one process.
            False for backends whose locks end with their holder process instead
            (``flock``): they must prove that with a test that kills the holder.
    """

    leases_expire: ClassVar[bool] = True

    def test_a_missing_key_is_none(self, cache: TokenCache) -> None:
        """``get`` of a key never set is None, and ``delete`` of it is False."""
        assert cache.get("contract-missing") is None
        assert cache.delete("contract-missing") is False

    def test_set_get_replace_delete(self, cache: TokenCache) -> None:
        """Bytes come back as stored; a second ``set`` replaces; ``delete`` removes."""
        cache.set("contract-key", b"\x00first\xff", ttl=60)
        assert cache.get("contract-key") == b"\x00first\xff"
        cache.set("contract-key", b"second", ttl=60)
        assert cache.get("contract-key") == b"second"
        assert cache.delete("contract-key") is True
        assert cache.get("contract-key") is None

    def test_keys_are_independent(self, cache: TokenCache) -> None:
        """Two keys never see each other's record."""
        cache.set("contract-a", b"a", ttl=60)
        cache.set("contract-b", b"b", ttl=60)
        assert (cache.get("contract-a"), cache.get("contract-b")) == (b"a", b"b")

    def test_entries_lists_what_was_stored(self, cache: TokenCache) -> None:
        """``entries`` yields every stored record."""
        cache.set("contract-a", b"a", ttl=60)
        cache.set("contract-b", b"b", ttl=60)
        assert sorted(data for _, data in cache.entries()) == [b"a", b"b"]

    def test_the_lock_is_exclusive_until_released(self, cache: TokenCache) -> None:
        """A held lock refuses a second taker; once released it can be taken again."""
        lock = cache.try_lock("contract-lock", lease=30)
        assert lock is not None
        assert cache.try_lock("contract-lock", lease=30) is None
        lock.release()
        again = cache.try_lock("contract-lock", lease=30)
        assert again is not None
        again.release()

    def test_locks_are_per_key(self, cache: TokenCache) -> None:
        """Holding one key's lock does not hold another's."""
        first = cache.try_lock("contract-lock-1", lease=30)
        second = cache.try_lock("contract-lock-2", lease=30)
        assert first is not None and second is not None
        first.release()
        second.release()

    def test_describe_is_text(self, cache: TokenCache) -> None:
        """``describe`` says where records live, as text."""
        assert isinstance(cache.describe(), str) and cache.describe()

    def test_a_lease_ends_a_lock_whose_holder_never_releases(self, cache: TokenCache) -> None:
        """An unreleased lock ends with its lease, or (``leases_expire = False``) holds.

        A backend whose locks end with their holder process keeps an unreleased lock held
        past any lease, until its holder releases it or exits.
        """
        held = cache.try_lock("contract-lease", lease=0.2)
        assert held is not None
        if not self.leases_expire:
            time.sleep(0.3)
            assert cache.try_lock("contract-lease", lease=30) is None
            held.release()
            return
        deadline = time.monotonic() + 10
        taken = None
        while taken is None and time.monotonic() < deadline:
            taken = cache.try_lock("contract-lease", lease=30)
            if taken is None:
                time.sleep(0.05)
        assert taken is not None
        taken.release()
        held.release()
