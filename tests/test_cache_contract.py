"""Every built-in cache backend passes the contract kit third-party backends run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tokenrack.cache.file import FileCache
from tokenrack.cache.memory import MemoryCache
from tokenrack.cache.redis import RedisCache
from tokenrack.testing import TokenCacheContractTests


class TestMemoryCache(TokenCacheContractTests):
    @pytest.fixture
    def cache(self) -> MemoryCache:
        return MemoryCache()


class TestFileCache(TokenCacheContractTests):
    leases_expire = False  # flock ends with its holder: tests/test_fleet.py kills one

    @pytest.fixture
    def cache(self, tmp_path: Path) -> Iterator[FileCache]:
        backend = FileCache({"path": str(tmp_path / "cache")}, secrets={})
        yield backend
        backend.close()


class TestRedisCache(TokenCacheContractTests):
    @pytest.fixture
    def cache(self, redis_url: str, redis_prefix: str) -> Iterator[RedisCache]:
        backend = RedisCache(
            {"url": redis_url, "key_prefix": redis_prefix, "plaintext": True}, secrets={}
        )
        yield backend
        backend.close()
