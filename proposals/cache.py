"""The shared cache (Redis, or a database table), as the portal's caches use it.

`cache` forgives an unreachable cache: reads miss and writes are dropped (logged), so that a
Redis outage slows pages down instead of failing them. Versioned keys (`version`,
`bump_version`) name a generation of cached entries: bumping makes every entry cached under
the old number unreachable, and a number the cache has lost restarts from the clock, larger
than any it can have held, so that old entries are never read again.
"""

import datetime
import hashlib
import json
import logging
import time
from collections.abc import Iterable

from django.core.cache import cache as shared_cache
from django.utils import timezone

logger = logging.getLogger(__name__)

# After a failure the cache is left alone for a few seconds: while Redis cannot be reached,
# each attempt waits for its timeout (1-2 s), and a save that bumps several keys, or a page
# that reads several, would wait that long for each of them.
RETRY_AFTER_SECONDS = 5.0
# Bumped when the cache answers again after writes to it were lost (a bump that could not be
# made leaves old entries readable): everything cached under versioned keys also depends on
# it (page parts, admin rows, the dashboard, users and permissions), so none of those old
# entries is read again.
EPOCH_KEY = "cache:epoch"
_state = {"down_until": 0.0, "lost_writes": False}


class ForgivingCache:
    """The shared cache, or a miss when it cannot be reached: while Redis is down, signed-in
    pages read their session and user from the database (slower) instead of failing."""

    def __init__(self, cache):
        self._cache = cache

    def _try(self, what, default, *args, write=False, **kwargs):
        now = time.monotonic()
        if now < _state["down_until"]:
            _state["lost_writes"] |= write
            return default() if callable(default) else default
        try:
            result = getattr(self._cache, what)(*args, **kwargs)
        except ValueError:  # incr of a missing key: not a failure of the cache
            raise
        except Exception:  # any backend's connection error
            logger.warning("cache %s failed; going on without the cache", what, exc_info=True)
            _state["down_until"] = now + RETRY_AFTER_SECONDS
            _state["lost_writes"] |= write
            return default() if callable(default) else default
        if _state["lost_writes"]:
            _state["lost_writes"] = False
            self._forget_everything_versioned()
        return result

    def _forget_everything_versioned(self) -> None:
        try:
            self._cache.incr(EPOCH_KEY)
        except ValueError:
            self._cache.set(EPOCH_KEY, fresh_version(), None)
        except Exception:
            _state["lost_writes"] = True  # try again with the next answer
        logger.warning("cache writes were lost while it was unreachable: epoch bumped")

    def get(self, key, default=None):
        return self._try("get", default, key, default)

    def set(self, key, value, timeout=None):
        self._try("set", None, key, value, timeout, write=True)

    def delete(self, key):
        self._try("delete", None, key, write=True)

    def get_many(self, keys):
        return self._try("get_many", dict, keys)

    def get_or_set(self, key, default, timeout=None):
        return self._try("get_or_set", default, key, default, timeout, write=True)

    def incr(self, key):
        """The new value; None when the key is missing or the cache cannot be reached."""
        try:
            return self._try("incr", None, key, write=True)
        except ValueError:  # missing key
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


def versions(keys: list[str], found: dict | None = None) -> list[int]:
    """The current numbers of versioned keys, in one round trip when the cache has them all
    (or from `found`, what a read of them with other keys brought)."""
    if found is None:
        found = cache.get_many(keys)
    return [found[key] if key in found else version(key) for key in keys]


def bump_version(key: str) -> None:
    """A new number for a versioned key: what was cached under the old one is never read."""
    if cache.incr(key) is None:  # lost, or the cache is unreachable
        cache.set(key, fresh_version(), None)


class Slot:
    """A place in the cache for a value that depends on versioned keys, read with their current
    numbers in one round trip. The entry holds the numbers it was built under and is used only
    while they are still the current ones (and the instant it holds until has not passed): a
    change bumps a number, so the entry no longer holds, and is built again and stored over it.
    Every slot also depends on the cache's epoch.

    The place is named by `name` and a hash of the names of the keys it depends on and of
    `vary_on`, hashed as a JSON list, so that a value from a URL cannot pose as the next part
    of the name, and the name fits the database cache's 255 characters."""

    def __init__(self, name: str, depends_on: Iterable[str], vary_on: Iterable = ()):
        keys = [*depends_on, EPOCH_KEY]
        identity = json.dumps([keys, [str(value) for value in vary_on]])
        self.key = f"{name}:{hashlib.sha256(identity.encode()).hexdigest()}"
        found = cache.get_many([self.key, *keys])
        # The numbers read before the value is built: a change committed while it is built
        # bumps them, and the entry stored under the old ones is not used.
        self.versions = versions(keys, found)
        entry = found.get(self.key)
        self.hit, self.value = False, None
        if entry is not None:
            built_under, valid_until, value = entry
            if built_under == self.versions and (
                valid_until is None or timezone.now() < valid_until
            ):
                self.hit, self.value = True, value

    def store(self, value, valid_until: datetime.datetime | None = None, *, seconds: int):
        # Over whatever the place holds: a slow build under numbers since bumped may replace a
        # newer entry, which then only costs the next reader a build (it is never used).
        cache.set(self.key, (self.versions, valid_until, value), seconds)
