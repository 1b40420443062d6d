"""Django's Redis cache backend, going on without Redis while it cannot be reached.

Django's backend raises when Redis is down, and its callers do not expect it to: the
`{% cache %}` tag, allauth's rate limits, the audit trail's deduplication. A Redis outage must
slow pages down, not fail them, so here a connection error or a timeout is logged and the
cache then behaves as an empty one that stores nothing: reads miss, `set` and `delete` do
nothing, `add` reports that it stored nothing and `incr` fails as for a missing key.

The login rate limit fails safe: allauth takes a lock with `add` before it counts an attempt,
and a lock it cannot take counts as over the limit, so sign-ins are refused (429) until Redis
answers again; signed-in pages keep working (sessions are in the database).
"""

import logging

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

UNREACHABLE = (RedisConnectionError, RedisTimeoutError)


def _unreachable(operation: str) -> None:
    logger.warning("cache %s failed: Redis unreachable, going on without it", operation)


class ForgivingRedisCache(RedisCache):
    def get(self, key, default=None, version=None):
        try:
            return super().get(key, default, version)
        except UNREACHABLE:
            _unreachable("get")
            return default

    def get_many(self, keys, version=None):
        try:
            return super().get_many(keys, version)
        except UNREACHABLE:
            _unreachable("get_many")
            return {}

    def has_key(self, key, version=None):
        try:
            return super().has_key(key, version)
        except UNREACHABLE:
            _unreachable("has_key")
            return False

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            super().set(key, value, timeout, version)
        except UNREACHABLE:
            _unreachable("set")

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().add(key, value, timeout, version)
        except UNREACHABLE:
            _unreachable("add")
            return False

    def delete(self, key, version=None):
        try:
            return super().delete(key, version)
        except UNREACHABLE:
            _unreachable("delete")
            return False

    def incr(self, key, delta=1, version=None):
        try:
            return super().incr(key, delta, version)
        except UNREACHABLE:
            _unreachable("incr")
            raise ValueError(f"Key {key!r} not found (Redis unreachable)") from None
