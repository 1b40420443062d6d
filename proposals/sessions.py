"""Sessions read from the shared cache and kept in the database (Django's cached_db).

While the cache cannot be reached, sessions are read and saved through the database alone.
Signing out (`flush`) is the exception: it must remove the cached copy too, so a failure there
is an error the user sees, not a warning. A cached copy lives SESSION_CACHE_SECONDS at most,
which also bounds how long a copy that could not be deleted survives (signing in replaces the
anonymous session's key, whose copy holds nothing of the account).
"""

from django.contrib.sessions.backends import cached_db

from .cache import ForgivingCache

SESSION_CACHE_SECONDS = 600


class _SessionCache(ForgivingCache):
    def set(self, key, value, timeout=None):
        timeout = SESSION_CACHE_SECONDS if timeout is None else min(timeout, SESSION_CACHE_SECONDS)
        super().set(key, value, timeout)


class SessionStore(cached_db.SessionStore):
    def __init__(self, session_key=None):
        super().__init__(session_key)
        self._strict_cache = self._cache
        self._cache = _SessionCache(self._cache)

    def flush(self):
        key = self.session_key
        super().flush()
        if key:
            self._strict_cache.delete(self.cache_key_prefix + key)  # raises if it cannot
