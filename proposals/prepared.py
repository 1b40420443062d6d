"""Statements run on nearly every request, prepared once per PostgreSQL connection.

Planning costs PostgreSQL more than running these small statements: on the benchmark the
proposal gate took 0.5 ms of the server's time planned afresh each time, 0.11 ms prepared,
with the server sharing two cores with the portal. psycopg2 prepares nothing by itself, so
`execute` sends `PREPARE` the first time a connection runs a statement, and `EXECUTE` after.

A prepared statement lives as long as its database session, whatever happens to transactions
(a rollback keeps it). A new connection (Django reconnects after CONN_MAX_AGE or an error) is
a new session, and prepares again; with a connection per request (CONN_MAX_AGE 0) preparing
would only add a round trip, so statements then run as they are. What this needs of a deployment: nothing between the portal
and PostgreSQL that hands one session's statements to another (a pooler in transaction mode,
such as PgBouncer's); behind one, set DATABASE_PREPARED_STATEMENTS=0. Other databases, and
that setting, run the statement as it is.
"""

import hashlib
import re

from django.conf import settings
from django.db import connection

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
    # The statements prepared on this very connection (a new one starts with none).
    session = db.connection
    known = db.__dict__.get("_portal_prepared")
    if known is None or known[0] is not session:
        known = db.__dict__["_portal_prepared"] = (session, set())
    if name not in known[1]:
        cursor.execute(f"PREPARE {name} AS {_numbered(sql)}")
        known[1].add(name)
    arguments = f" ({', '.join(['%s'] * len(params))})" if params else ""
    cursor.execute(f"EXECUTE {name}{arguments}", params)


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
