"""Statements run on nearly every request, prepared once per PostgreSQL connection.

Planning costs PostgreSQL more than running these small statements: on the benchmark the
proposal gate took 0.5 ms of the server's time planned afresh each time, 0.11 ms prepared,
with the server sharing two cores with the portal. psycopg2 prepares nothing by itself, so
`execute` sends `PREPARE` the first time a connection runs a statement, and `EXECUTE` after.

A prepared statement lives as long as its database session, whatever happens to transactions
(a rollback keeps it). A new connection (Django reconnects after CONN_MAX_AGE or an error) is
a new session, and prepares again, as does one whose statements were lost or made stale by a
migration (the statement is then prepared anew); with a connection per request (CONN_MAX_AGE 0) preparing
would only add a round trip, so statements then run as they are. What this needs of a deployment: nothing between the portal
and PostgreSQL that hands one session's statements to another (a pooler in transaction mode,
such as PgBouncer's); behind one, set DATABASE_PREPARED_STATEMENTS=0. Other databases, and
that setting, run the statement as it is.
"""

import hashlib
import re

from django.conf import settings
from django.db import DatabaseError, connection

_PLACEHOLDER = re.compile(r"%s")


def _numbered(sql: str) -> str:
    """`sql` with its placeholders as PostgreSQL's $1, $2… (no literal % is allowed)."""
    if "%%" in sql:
        raise ValueError("A prepared statement cannot hold a literal %.")
    numbers = iter(range(1, sql.count("%s") + 1))
    return _PLACEHOLDER.sub(lambda _match: f"${next(numbers)}", sql)


def execute(cursor, sql: str, params: list) -> None:
    """Run `sql` with `params` on `cursor` (Django's), prepared once per PostgreSQL connection."""
    db = cursor.db
    if (
        db.vendor != "postgresql"
        or not settings.DATABASE_PREPARED_STATEMENTS
        or db.settings_dict["CONN_MAX_AGE"] == 0
    ):
        cursor.execute(sql, params)
        return
    name = "portal_" + hashlib.sha256(sql.encode()).hexdigest()[:24]
    arguments = f" ({', '.join(['%s'] * len(params))})" if params else ""
    try:
        _prepare(cursor, name, sql)
        cursor.execute(f"EXECUTE {name}{arguments}", params)
    except DatabaseError as error:
        if getattr(error.__cause__, "pgcode", None) not in _LOST_OR_CHANGED:
            raise
        # The session lost its statements (DISCARD ALL, DEALLOCATE) or a migration changed a
        # column it reads ("cached plan must not change result type"): start this connection
        # afresh. Inside a transaction, which the error has aborted, the next statement does.
        db.__dict__.pop("_portal_prepared", None)
        if db.in_atomic_block:
            raise
        _prepare(cursor, name, sql)
        cursor.execute(f"EXECUTE {name}{arguments}", params)


# InvalidSqlStatementName (no such prepared statement), FeatureNotSupported (its plan's result
# type changed with the table's).
_LOST_OR_CHANGED = {"26000", "0A000"}


def _prepare(cursor, name: str, sql: str) -> None:
    """Prepare `name` on the cursor's connection unless it is prepared there already. The
    first statement of a connection (or of one whose statements were lost) drops whatever
    the session holds, so that no stale statement of the same name stands in the way."""
    db = cursor.db
    session = db.connection
    known = db.__dict__.get("_portal_prepared")
    if known is None or known[0] is not session:
        cursor.execute("DEALLOCATE ALL")
        known = db.__dict__["_portal_prepared"] = (session, set())
    if name not in known[1]:
        cursor.execute(f"PREPARE {name} AS {_numbered(sql)}")
        known[1].add(name)


def fetch_one(sql: str, params: list | tuple = ()) -> tuple | None:
    """The first row of `sql` with `params`, prepared once per PostgreSQL connection."""
    with connection.cursor() as cursor:
        execute(cursor, sql, list(params))
        return cursor.fetchone()


def fetch_all(sql: str, params: list | tuple = ()) -> list[tuple]:
    """The rows of `sql` with `params`, prepared once per PostgreSQL connection."""
    with connection.cursor() as cursor:
        execute(cursor, sql, list(params))
        return cursor.fetchall()
