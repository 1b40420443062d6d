"""Statements prepared once per PostgreSQL connection (proposals/prepared.py)."""

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from proposals import prepared
from proposals.models import MemberRole
from proposals.permissions import get_proposal_for_user

from .factories import make_proposal

SQL = "SELECT %s::int + 1, %s::text"


def test_placeholders_are_numbered_for_postgresql():
    assert prepared._numbered("a = %s AND b = %s") == "a = $1 AND b = $2"
    with pytest.raises(ValueError):
        prepared._numbered("a LIKE 'x%%' AND b = %s")


@pytest.fixture
def kept_connection():
    """A connection of its own, kept between requests as in production (CONN_MAX_AGE)."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    default = connections["default"]
    own = type(default)({**default.settings_dict, "CONN_MAX_AGE": 60}, "default")
    yield own
    own.close()


def run(db, *params):
    with CaptureQueriesContext(db) as captured, db.cursor() as cursor:
        prepared.execute(cursor, SQL, list(params))
        row = cursor.fetchone()
    return row, [query["sql"].split()[0] for query in captured]


@pytest.mark.django_db
def test_a_statement_is_prepared_once_per_connection(kept_connection):
    # The connection's first statement starts it clean.
    assert run(kept_connection, 1, "a") == ((2, "a"), ["DEALLOCATE", "PREPARE", "EXECUTE"])
    assert run(kept_connection, 41, "b") == ((42, "b"), ["EXECUTE"])
    # A rollback keeps what the session prepared.
    kept_connection.set_autocommit(False)
    assert run(kept_connection, 2, "c") == ((3, "c"), ["EXECUTE"])
    kept_connection.rollback()
    kept_connection.set_autocommit(True)
    assert run(kept_connection, 3, "d") == ((4, "d"), ["EXECUTE"])
    # A new connection (after CONN_MAX_AGE, or an error) is a new session: prepared again.
    kept_connection.close()
    assert run(kept_connection, 4, "e") == ((5, "e"), ["DEALLOCATE", "PREPARE", "EXECUTE"])


@pytest.mark.django_db
def test_statements_run_as_they_are_unless_connections_are_kept(kept_connection, settings):
    kept_connection.settings_dict["CONN_MAX_AGE"] = 0
    assert run(kept_connection, 1, "a") == ((2, "a"), ["SELECT"])
    kept_connection.settings_dict["CONN_MAX_AGE"] = 60
    settings.DATABASE_PREPARED_STATEMENTS = False  # behind a pooler in transaction mode
    assert run(kept_connection, 1, "a") == ((2, "a"), ["SELECT"])


@pytest.mark.django_db
def test_the_proposal_gate_runs_prepared_with_kept_connections(
    call, danang, danang_lead, cebu_lead, monkeypatch
):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    proposal = make_proposal(call, danang, danang_lead)
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)
    for _ in range(2):
        with CaptureQueriesContext(connection) as captured:
            read = get_proposal_for_user(danang_lead, proposal.code, only=("title",))
        assert (read.pk, read.title, read.reader_role) == (
            proposal.pk,
            proposal.title,
            MemberRole.LEAD,
        )
        assert captured[-1]["sql"].startswith("EXECUTE")
    from django.http import Http404

    with pytest.raises(Http404):
        get_proposal_for_user(cebu_lead, proposal.code, only=("title",))


@pytest.mark.django_db
def test_a_readers_cities_and_the_newest_proposal_run_prepared(
    call, danang, cebu, danang_lead, monkeypatch
):
    from proposals import page_cache
    from proposals.models import CityMembership, Proposal
    from proposals.views.staff import NEWEST_PROPOSAL

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    CityMembership.objects.create(city=cebu, user=danang_lead, role=MemberRole.EDITOR)
    newest = make_proposal(call, danang, danang_lead)
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)
    for _ in range(2):
        with CaptureQueriesContext(connection) as captured:
            assert page_cache.member_city_ids(danang_lead) == sorted([danang.pk, cebu.pk])
            assert prepared.fetch_one(NEWEST_PROPOSAL) == (newest.pk,)
    # The second time, both run as prepared the first time.
    assert [query["sql"].split()[0] for query in captured] == ["EXECUTE", "EXECUTE"]
    assert Proposal.objects.latest("pk") == newest


@pytest.mark.django_db
def test_statements_the_session_lost_are_prepared_again(kept_connection):
    assert run(kept_connection, 1, "a")[0] == (2, "a")
    with kept_connection.connection.cursor() as behind_its_back:
        behind_its_back.execute("DEALLOCATE ALL")  # as a pooler's DISCARD ALL would
    assert run(kept_connection, 2, "b") == (
        (3, "b"),
        ["EXECUTE", "DEALLOCATE", "PREPARE", "EXECUTE"],
    )
    assert run(kept_connection, 3, "c") == ((4, "c"), ["EXECUTE"])


@pytest.mark.django_db
def test_a_statement_a_migration_made_stale_is_prepared_again(kept_connection):
    """PostgreSQL refuses a prepared plan whose result type changed with its table's."""
    statement = "SELECT name FROM portal_places WHERE length(name) > %s"
    with kept_connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE portal_places (name varchar(10))")
        cursor.execute("INSERT INTO portal_places VALUES ('Đà Nẵng')")

    def names():
        with kept_connection.cursor() as cursor:
            prepared.execute(cursor, statement, [1])
            return cursor.fetchall()

    assert names() == [("Đà Nẵng",)]
    with kept_connection.cursor() as cursor:
        cursor.execute("ALTER TABLE portal_places ALTER COLUMN name TYPE varchar(40)")
    assert names() == [("Đà Nẵng",)]


@pytest.mark.django_db
def test_inside_a_transaction_a_lost_statement_fails_it_and_the_next_prepares_again(
    monkeypatch,
):
    from django.db import DatabaseError, transaction

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)
    assert run(connection, 1, "a")[0] == (2, "a")
    with connection.connection.cursor() as behind_its_back:
        behind_its_back.execute("DEALLOCATE ALL")
    with pytest.raises(DatabaseError), transaction.atomic():
        run(connection, 2, "b")
    assert run(connection, 3, "c") == ((4, "c"), ["DEALLOCATE", "PREPARE", "EXECUTE"])
