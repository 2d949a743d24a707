"""Django's Redis cache, keeping its ``redis.Redis`` client instead of making a new one for every operation.

Django's RedisCacheClient keeps the connection pool but builds a ``redis.Redis`` around it on each get, set or
add, and building one copies redis-py's table of ~170 response callbacks: a third of a cache operation's CPU,
and every API request makes two of them (the rate limit's read and write). The client holds no state of its
own between commands (connections come from the pool, which survives a fork by checking its pid), and each
thread has its own cache object anyway, so one client per server serves every operation.
"""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class ReusedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            if index not in self._pools:
                self._pools[index] = self._pool_class.from_url(self._servers[index], **self._pool_options)
            client = self._clients[index] = self._client(connection_pool=self._pools[index])
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusedClientRedisCacheClient
