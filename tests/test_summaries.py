"""Proposal summaries (proposals/summaries.py): exports read them only while they hold, and
every change to what they summarise stops them holding until they are built again."""

import datetime

import pytest
from django.db.models import F

from proposals import reports, services, summaries
from proposals.models import (
    FocusArea,
    JapanesePartner,
    Proposal,
    ProposalSummary,
    Sector,
    Status,
)
from proposals.roles import REVIEWERS
from proposals.tasks import build_summaries

from .conftest import in_group
from .factories import UserFactory, make_proposal, review, under_review

pytestmark = pytest.mark.django_db

KEYS = ["title", "focus_areas", "sectors", "partners", "reviews", "mean_score", "spread"]


def export() -> dict[str, list]:
    rows = reports.proposal_rows(Proposal.objects.all(), reports.chosen_columns(KEYS))
    return {row[0]: row[1:] for row in rows}


def holding() -> set[str]:
    return set(
        ProposalSummary.objects.filter(built_version=F("version")).values_list(
            "proposal__title", flat=True
        )
    )


@pytest.fixture
def reviewed(call, danang, danang_lead, staff, reviewer, reviewer2):
    """Two focus areas, one sector, two partners, reviews of 4.6 and 2.6 (weights 3 and 2)."""
    proposal = under_review(make_proposal(call, danang, danang_lead), lead=danang_lead, staff=staff)
    proposal.focus_areas.add(FocusArea.objects.get(code="civic-social"))
    JapanesePartner.objects.create(proposal=proposal, name="Aoi Consulting", kind="company")
    review(proposal, reviewer, [5, 4], staff=staff)
    review(proposal, reviewer2, [3, 2], staff=staff)
    return proposal


@pytest.fixture
def draft(call, cebu, cebu_lead):
    return make_proposal(call, cebu, cebu_lead, title="Bus fares")


EXPECTED = {
    "Flood early warning": [
        "Civic and social; Quality environment",
        "Disaster risk reduction",
        "Aoi Consulting; Tokyo Engineering",
        2,
        3.6,
        2.0,
    ],
    "Bus fares": [
        "Quality environment",
        "Disaster risk reduction",
        "Tokyo Engineering",
        0,
        None,
        None,
    ],
}


def test_exports_hold_the_same_with_summaries_built_or_not(reviewed, draft):
    # Every proposal gets a summary when it is created, not built yet: exports compute.
    assert ProposalSummary.objects.count() == 2 and holding() == set()
    assert export() == EXPECTED
    assert build_summaries() == 2  # the beat task
    assert holding() == {"Flood early warning", "Bus fares"}
    summary = ProposalSummary.objects.get(proposal=reviewed)
    assert (summary.partners, summary.reviews) == ("Aoi Consulting; Tokyo Engineering", 2)
    assert export() == EXPECTED
    assert summaries.build() == 0  # nothing left to build


def test_each_change_stops_the_summary_holding_and_shows_at_once(
    reviewed, draft, staff, reviewer, cebu_lead, danang_lead
):
    expected = {title: list(values) for title, values in EXPECTED.items()}

    def check(*changed):
        assert holding() == {"Flood early warning", "Bus fares"} - set(changed)
        assert export() == expected
        summaries.build()
        assert holding() == {"Flood early warning", "Bus fares"}
        assert export() == expected

    summaries.build()
    # A focus area renamed (reference data): every proposal that has it.
    area = FocusArea.objects.get(code="quality-environment")
    area.name = "Environment"
    area.save()
    expected["Flood early warning"][0] = "Civic and social; Environment"
    expected["Bus fares"][0] = "Environment"
    check("Flood early warning", "Bus fares")
    # A sector added from the sector's side, then one cleared from it.
    Sector.objects.get(code="energy").proposals.add(draft)
    expected["Bus fares"][1] = "Disaster risk reduction; Energy"
    check("Bus fares")
    Sector.objects.get(code="energy").proposals.clear()
    expected["Bus fares"][1] = "Disaster risk reduction"
    check("Bus fares")
    # A focus area deleted: its links go by cascade, which sends no m2m_changed.
    extra = FocusArea.objects.create(code="zeta", name="Zeta", position=9)
    extra.proposals.add(draft)
    expected["Bus fares"][0] = "Environment; Zeta"
    check("Bus fares")
    extra.delete()
    expected["Bus fares"][0] = "Environment"
    check("Bus fares")
    # The city's draft saved with other partners (written in bulk) and other focus areas.
    draft = Proposal.objects.get(pk=draft.pk)
    services.save_draft(
        user=cebu_lead,
        proposal=draft,
        base_version=draft.version,
        values={},
        focus_areas=FocusArea.objects.filter(code="civic-social"),
        sectors=Sector.objects.filter(code="disaster-risk"),
        partners=[{"name": "Ōsaka Rail", "kind": "company", "role": "Design"}],
    )
    expected["Bus fares"][0] = "Civic and social"
    expected["Bus fares"][2] = "Ōsaka Rail"
    check("Bus fares")
    # A partner deleted (the admin's inline).
    JapanesePartner.objects.get(name="Aoi Consulting").delete()
    expected["Flood early warning"][2] = "Tokyo Engineering"
    check("Flood early warning")
    # A criterion reweighed: Feasibility 2 -> 7 gives (15 + 28) / 10 and (9 + 14) / 10.
    feasibility = reviewed.call.criteria.get(name="Feasibility")
    feasibility.weight = 7
    feasibility.save()
    expected["Flood early warning"][3:] = [2, 3.3, 2.0]
    check("Flood early warning")
    # A third review submitted: 1 and 1 give 1.0.
    third = in_group(UserFactory(email="r3@example.org", is_staff=True), REVIEWERS)
    review(reviewed, third, [1, 1], staff=staff)
    expected["Flood early warning"][3:] = [3, 2.53, 3.3]  # (4.3 + 2.3 + 1) / 3
    check("Flood early warning")
    # An assignment deleted with its review.
    reviewed.assignments.get(reviewer=third).delete()
    expected["Flood early warning"][3:] = [2, 3.3, 2.0]
    check("Flood early warning")


def test_a_change_committed_while_a_summary_is_built_leaves_it_not_holding(reviewed, monkeypatch):
    read_names = summaries._names
    calls = []

    def names_then_a_change(rows):
        result = read_names(rows)
        if not calls:  # after the versions were read, before the partners are
            JapanesePartner.objects.create(proposal=reviewed, name="Zen Partners", kind="ngo")
        calls.append(1)
        return result

    monkeypatch.setattr(summaries, "_names", names_then_a_change)
    assert summaries.build(limit=1) == 1  # one pass
    assert holding() == set()  # built from rows newer than the version it read
    assert export()["Flood early warning"][2] == ("Aoi Consulting; Tokyo Engineering; Zen Partners")
    monkeypatch.setattr(summaries, "_names", read_names)
    summaries.build()
    assert holding() == {"Flood early warning"}
    assert ProposalSummary.objects.get().partners.endswith("Zen Partners")


def test_bulk_created_proposals_get_summaries(call, danang, danang_lead):
    Proposal.objects.bulk_create(
        [
            Proposal(call=call, city=danang, title=f"Bulk {n}", created_by=danang_lead)
            for n in (1, 2)
        ]
    )
    assert ProposalSummary.objects.count() == 0
    summaries.create_missing()
    assert ProposalSummary.objects.count() == 2
    assert summaries.build() == 2
    assert export() == {f"Bulk {n}": ["", "", "", 0, None, None] for n in (1, 2)}


def test_fiscal_year_and_times_are_in_jst(call, danang, danang_lead):
    """Japan's fiscal year runs from 1 April to 31 March, JST."""
    jst = datetime.timezone(datetime.timedelta(hours=9))
    instants = {
        "last minute of FY2026": datetime.datetime(2027, 3, 31, 23, 59, tzinfo=jst),
        "first of FY2027": datetime.datetime(2027, 4, 1, 0, 0, tzinfo=jst),
        # 31 March 16:00 UTC is already 1 April in Japan.
        "UTC 31 March": datetime.datetime(2027, 3, 31, 16, 0, tzinfo=datetime.UTC),
        "new year": datetime.datetime(2026, 12, 31, 15, 30, tzinfo=datetime.UTC),
    }
    for title, moment in instants.items():
        Proposal.objects.create(
            call=call,
            city=danang,
            title=title,
            created_by=danang_lead,
            status=Status.SUBMITTED,
            submitted_at=moment,
        )
    Proposal.objects.create(call=call, city=danang, title="draft", created_by=danang_lead)
    columns = reports.chosen_columns(["title", "submitted", "fiscal_year", "decided"])
    rows = {row[0]: row[1:] for row in reports.proposal_rows(Proposal.objects.all(), columns)}
    assert rows == {
        "last minute of FY2026": ["2027-03-31 23:59", 2026, ""],
        "first of FY2027": ["2027-04-01 00:00", 2027, ""],
        "UTC 31 March": ["2027-04-01 01:00", 2027, ""],
        "new year": ["2027-01-01 00:30", 2026, ""],
        "draft": ["", "", ""],
    }


def test_the_programme_zone_must_have_a_fixed_offset_on_sqlite(settings):
    from proposals.apps import programme_zone_check

    assert reports.fixed_utc_offset("Asia/Tokyo") == datetime.timedelta(hours=9)
    assert reports.fixed_utc_offset("Europe/London") is None
    assert programme_zone_check() == []
    settings.PROGRAMME_TIME_ZONE = "Europe/London"
    errors = programme_zone_check()
    from django.db import connection

    assert [error.id for error in errors] == (
        ["smartjamp.E001"] if connection.vendor == "sqlite" else []
    )


def test_postgresql_connections_run_without_jit():
    """JIT compiled the export for about a second (its fallbacks look costly to the planner)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone() == ("off",)


def test_beat_builds_summaries_every_minute(settings):
    from celery import current_app

    entry = settings.CELERY_BEAT_SCHEDULE["build-summaries"]
    assert entry["schedule"] == 60.0
    assert entry["task"] in current_app.tasks


def test_postgresql_plans_the_export_knowing_every_summary(call, danang, danang_lead):
    """The planner's estimate of the summaries joined must be all of them, not a guess at
    0.5% of them: on that guess, PostgreSQL planned a server-side cursor over 20,000 proposals
    as a nested loop over every pair of proposal and summary (6.5 s instead of 0.1 s)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    count = 400
    Proposal.objects.bulk_create(
        [
            Proposal(call=call, city=danang, title=f"Bulk {n}", created_by=danang_lead)
            for n in range(count)
        ]
    )
    summaries.create_missing()
    summaries.build()
    statement, params = reports.export_statement(Proposal.objects.all(), reports.COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE proposals_proposal, proposals_proposalsummary")
        # As the export runs it: a server-side cursor, which the planner starts fast.
        cursor.execute(f"EXPLAIN (FORMAT JSON) DECLARE c NO SCROLL CURSOR FOR {statement}", params)
        plan = cursor.fetchone()[0][0]["Plan"]

    def nodes(node):
        yield node
        for child in node.get("Plans", []):
            yield from nodes(child)

    summaries_read = [
        node for node in nodes(plan) if node.get("Relation Name") == "proposals_proposalsummary"
    ]
    assert summaries_read
    for node in summaries_read:
        # No condition on two of its columns narrows the summaries joined...
        assert "built_version" not in node.get("Filter", "") + node.get("Join Filter", "")
        # ...so a scan of them all expects them all (a scan by key, in a loop, expects one).
        if "Index Cond" not in node:
            assert node["Plan Rows"] >= count * 0.9, node
