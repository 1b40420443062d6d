"""The rows of exports (proposals/reports.py): what each column shows, at once after each kind
of change to what it shows."""

import datetime

import pytest

from proposals import reports, services
from proposals.models import FocusArea, JapanesePartner, Proposal, Sector, Status
from proposals.roles import REVIEWERS

from .conftest import in_group
from .factories import UserFactory, make_proposal, review, under_review

pytestmark = pytest.mark.django_db

KEYS = ["title", "focus_areas", "sectors", "partners", "reviews", "score", "spread"]


def export() -> dict[str, list]:
    rows = reports.proposal_rows(Proposal.objects.all(), reports.chosen_columns(KEYS))
    return {row[0]: row[1:] for row in rows}


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


def test_each_change_shows_in_the_export_at_once(
    reviewed, draft, staff, reviewer, cebu_lead, danang_lead
):
    expected = {title: list(values) for title, values in EXPECTED.items()}

    def check():
        assert export() == expected

    check()
    # A focus area renamed (reference data): every proposal that has it.
    area = FocusArea.objects.get(code="quality-environment")
    area.name = "Environment"
    area.save()
    expected["Flood early warning"][0] = "Civic and social; Environment"
    expected["Bus fares"][0] = "Environment"
    check()
    # A sector added from the sector's side, then one cleared from it.
    Sector.objects.get(code="energy").proposals.add(draft)
    expected["Bus fares"][1] = "Disaster risk reduction; Energy"
    check()
    Sector.objects.get(code="energy").proposals.clear()
    expected["Bus fares"][1] = "Disaster risk reduction"
    check()
    # A focus area deleted: its links go by cascade, which sends no m2m_changed.
    extra = FocusArea.objects.create(code="zeta", name="Zeta", position=9)
    extra.proposals.add(draft)
    expected["Bus fares"][0] = "Environment; Zeta"
    check()
    extra.delete()
    expected["Bus fares"][0] = "Environment"
    check()
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
    check()
    # A partner deleted (the admin's inline).
    JapanesePartner.objects.get(name="Aoi Consulting").delete()
    expected["Flood early warning"][2] = "Tokyo Engineering"
    check()
    # A criterion reweighed: Feasibility 2 -> 7 gives (15 + 28) / 10 and (9 + 14) / 10.
    feasibility = reviewed.call.criteria.get(name="Feasibility")
    feasibility.weight = 7
    feasibility.save()
    expected["Flood early warning"][3:] = [2, 3.3, 2.0]
    check()
    # A third review submitted: 1 and 1 give 1.0.
    third = in_group(UserFactory(email="r3@example.org", is_staff=True), REVIEWERS)
    review(reviewed, third, [1, 1], staff=staff)
    expected["Flood early warning"][3:] = [3, 2.53, 3.3]  # (4.3 + 2.3 + 1) / 3
    check()
    # An assignment deleted with its review.
    reviewed.assignments.get(reviewer=third).delete()
    expected["Flood early warning"][3:] = [2, 3.3, 2.0]
    check()


def test_bulk_created_proposals_are_exported(call, danang, danang_lead):
    Proposal.objects.bulk_create(
        [
            Proposal(call=call, city=danang, title=f"Bulk {n}", created_by=danang_lead)
            for n in (1, 2)
        ]
    )
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


def test_postgresql_connections_run_without_jit():
    """JIT compiled the export for about a second (its fallbacks look costly to the planner)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone() == ("off",)
