"""The shared cache (Redis, or a database table), as the portal's caches use it.

`cache` forgives an unreachable cache: reads miss and writes are dropped (logged), so that a
Redis outage slows pages down instead of failing them. Versioned keys (`version`,
`bump_version`) name a generation of cached entries: bumping makes every entry cached under
the old number unreachable, and a number the cache has lost restarts from the clock, larger
than any it can have held, so that old entries are never read again.
"""

import logging
import time

from django.core.cache import cache as shared_cache

logger = logging.getLogger(__name__)


class ForgivingCache:
    """The shared cache, or a miss when it cannot be reached: while Redis is down, signed-in
    pages read their session and user from the database (slower) instead of failing."""

    def __init__(self, cache):
        self._cache = cache

    def _try(self, what, default, *args, **kwargs):
        try:
            return getattr(self._cache, what)(*args, **kwargs)
        except Exception:  # any backend's connection error
            logger.warning("cache %s failed; going on without the cache", what, exc_info=True)
            return default

    def get(self, key, default=None):
        return self._try("get", default, key, default)

    def set(self, key, value, timeout=None):
        self._try("set", None, key, value, timeout)

    def delete(self, key):
        self._try("delete", None, key)

    def get_many(self, keys):
        return self._try("get_many", {}, keys)

    def get_or_set(self, key, default, timeout=None):
        try:
            return self._cache.get_or_set(key, default, timeout)
        except Exception:
            logger.warning("cache get_or_set failed; going on without the cache", exc_info=True)
            return default() if callable(default) else default

    def incr(self, key):
        """The new value; None when the key is missing or the cache cannot be reached."""
        try:
            return self._cache.incr(key)
        except ValueError:  # missing key
            return None
        except Exception:
            logger.warning("cache incr failed; going on without the cache", exc_info=True)
            return None

    def __contains__(self, key):
        return bool(self._try("has_key", False, key))

    def __str__(self):
        return f"ForgivingCache({self._cache})"


cache = ForgivingCache(shared_cache)


def fresh_version() -> int:
    """A version for a key the cache has lost: larger than any number it can have held
    (microseconds), so that entries cached under an old version are never read again."""
    return time.time_ns() // 1_000


def version(key: str) -> int:
    """The current number of a versioned key (set from the clock if the cache has none)."""
    return cache.get_or_set(key, fresh_version, None) or 0


def bump_version(key: str) -> None:
    """A new number for a versioned key: what was cached under the old one is never read."""
    if cache.incr(key) is None:  # lost, or the cache is unreachable
        cache.set(key, fresh_version(), None)
