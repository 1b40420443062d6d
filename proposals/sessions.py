"""Sessions read from the shared cache and kept in the database (Django's cached_db), which
keep working, from the database alone, while the cache cannot be reached."""

from django.contrib.sessions.backends import cached_db

from .auth import ForgivingCache


class SessionStore(cached_db.SessionStore):
    def __init__(self, session_key=None):
        super().__init__(session_key)
        self._cache = ForgivingCache(self._cache)
