"""The Redis cache keeps one redis-py client per server, and still behaves as Django's Redis cache."""

import uuid

import pytest
import redis

from gov_platform.cache import RedisCache


@pytest.fixture
def cache(redis_url):
    backend = RedisCache(redis_url, {"KEY_PREFIX": f"test-cache-{uuid.uuid4().hex[:8]}"})
    yield backend
    backend.delete_many(["a", "n", "once", "many1", "many2"])


def test_operations_behave_as_djangos_and_share_one_client(cache, monkeypatch):
    made = []
    init = redis.Redis.__init__

    def counting(self, *args, **kwargs):
        made.append(self)
        init(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "__init__", counting)
    assert cache.get("a") is None
    cache.set("a", [1.5, 2.5], 30)
    assert cache.get("a") == [1.5, 2.5]
    assert cache.add("once", "x", 30) is True
    assert cache.add("once", "y", 30) is False
    assert cache.get("once") == "x"
    cache.set("n", 1, 30)
    assert cache.incr("n", 2) == 3
    cache.set_many({"many1": 1, "many2": "two"}, 30)
    assert cache.get_many(["many1", "many2", "missing"]) == {"many1": 1, "many2": "two"}
    assert cache.delete("a") is True
    assert cache.get("a", "gone") == "gone"
    assert cache.touch("n", 60) is True
    assert len(made) == 1, "one client for every operation"


def test_a_dropped_connection_is_replaced(cache, redis_url):
    cache.set("a", "before", 30)
    pool = cache._cache._get_connection_pool(True)
    # Every connection the pool holds is closed under it (as a Redis restart or an idle timeout would).
    pool.disconnect()
    assert cache.get("a") == "before"
    cache.set("a", "after", 30)
    assert cache.get("a") == "after"
