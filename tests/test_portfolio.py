"""The staff portfolio's rules (issue 16): the funnel per call and fiscal year, leverage, the
facilities' use, the deliverables due this month, the desk's backlog and the map's figures."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from proposals import portfolio, services
from proposals.fiscal import JST
from proposals.models import (
    Deliverable,
    DeliverableKind,
    DeliverableState,
    DeskRequest,
    DeskState,
    Facility,
    FinancingKind,
    FinancingStatus,
    FinancingTrack,
    Project,
    ProjectStage,
    Proposal,
    Status,
)

from .factories import make_proposal, review, under_review

# Building the data ----------------------------------------------------------------------------


def promote(project, staff):
    """The project, its final report accepted, in investment promotion."""
    project.deliverables.filter(kind=DeliverableKind.FINAL).update(state=DeliverableState.ACCEPTED)
    return services.take_project_transition(
        actor=staff, project=project, name="promote_investment"
    ).project


# The transitions that take a new track to each status.
PATHS = {
    FinancingStatus.IDENTIFIED: [],
    FinancingStatus.REFERRED: ["refer"],
    FinancingStatus.UNDER_APPRAISAL: ["refer", "appraise"],
    FinancingStatus.DECLINED: ["refer", "decline"],
    FinancingStatus.APPROVED: ["refer", "appraise", "approve"],
    FinancingStatus.DISBURSED: ["refer", "appraise", "approve", "disburse"],
}


def track(project, staff, kind, sought, status, committed=None) -> FinancingTrack:
    """A financing track taken through the services to `status`."""
    added = services.add_financing_track(
        actor=staff, project=project, kind=kind, counterpart=f"{kind} desk", sought_jpy=sought
    )
    for name in PATHS[status]:
        extra = {"committed_jpy": committed} if name == "approve" else {}
        services.change_financing_status(actor=staff, track=added, name=name, **extra)
    added.refresh_from_db()
    return added


def submitted_at(proposal, moment):
    Proposal.objects.filter(pk=proposal.pk).update(submitted_at=moment)


def bulk_projects(call, city, count, *, moment, prefix="Bulk", stage=ProjectStage.FORMATION_SURVEY):
    """`count` approved proposals of `city` submitted at `moment`, each with its project
    (contract ¥10,000,000), an interim report due on the 20th of `moment`'s month and a JOIN
    track that committed ¥50,000,000: rows written directly, for the query counts."""
    proposals = Proposal.objects.bulk_create(
        Proposal(
            call=call,
            city=city,
            title=f"{prefix} {n}",
            status=Status.APPROVED,
            submitted_at=moment,
            requested_jpy=20_000_000,
            approved_jpy=10_000_000,
        )
        for n in range(count)
    )
    projects = Project.objects.bulk_create(
        Project(
            proposal=proposal,
            fiscal_year=2026,
            report_by=datetime.date(2027, 3, 31),
            contract_amount_jpy=10_000_000,
            stage=stage,
        )
        for proposal in proposals
    )
    due = moment.astimezone(JST).date().replace(day=20)
    Deliverable.objects.bulk_create(
        Deliverable(project=project, kind=DeliverableKind.INTERIM, due_on=due)
        for project in projects
    )
    FinancingTrack.objects.bulk_create(
        FinancingTrack(
            project=project,
            kind=FinancingKind.JOIN_EQUITY,
            counterpart="JOIN",
            sought_jpy=50_000_000,
            committed_jpy=50_000_000,
            status=FinancingStatus.APPROVED,
        )
        for project in projects
    )
    return projects


@pytest.fixture(name="pipeline")
def pipeline_fixture(
    call, danang, danang_lead, cebu, cebu_lead, staff, reviewer2, project, approve
):
    """A known pipeline in one call, all submitted in JFY 2026:
    - Da Nang's flood warning: approved (¥40,000,000 requested, ¥30,000,000 approved), its
      survey reported (contract ¥20,000,000), JBIC approved ¥3,000,000,000, JOIN disbursed
      ¥1,000,000,000, JOIN identified (¥500,000,000 sought), JBIC referred (¥1,000,000,000),
      JBIC declined (¥2,000,000,000) and a JICA loan under appraisal (¥900,000,000);
    - Cebu's buses: shortlisted, then rejected (¥40,000,000 requested);
    - Da Nang's smart lights: submitted and under review (¥40,000,000 requested);
    - Cebu's draft: not submitted, not counted."""
    promoted = promote(project, staff)
    Project.objects.filter(pk=project.pk).update(contract_amount_jpy=20_000_000)
    track(promoted, staff, "jbic_loan", 3_000_000_000, FinancingStatus.APPROVED, 3_000_000_000)
    track(promoted, staff, "join_equity", 1_000_000_000, FinancingStatus.DISBURSED, 1_000_000_000)
    track(promoted, staff, "join_equity", 500_000_000, FinancingStatus.IDENTIFIED)
    track(promoted, staff, "jbic_loan", 1_000_000_000, FinancingStatus.REFERRED)
    track(promoted, staff, "jbic_loan", 2_000_000_000, FinancingStatus.DECLINED)
    track(promoted, staff, "jica_loan", 900_000_000, FinancingStatus.UNDER_APPRAISAL)

    buses = under_review(
        make_proposal(call, cebu, cebu_lead, title="Buses"), lead=cebu_lead, staff=staff
    )
    review(buses, reviewer2, [3, 3], staff=staff)
    services.shortlist_proposal(actor=staff, proposal=buses)
    services.reject_proposal(actor=staff, proposal=buses, letter="Not this time.")
    lights = under_review(
        make_proposal(call, danang, danang_lead, title="Smart lights"),
        lead=danang_lead,
        staff=staff,
    )
    make_proposal(call, cebu, cebu_lead, title="Cebu draft", complete=False)
    year_2026 = datetime.datetime(2026, 9, 1, 10, 0, tzinfo=JST)
    for proposal in (project.proposal, buses, lights):
        submitted_at(proposal, year_2026)
    project.refresh_from_db()
    return project


def steps(funnel):
    return [(step.key, step.count, step.yen) for step in funnel.steps]


# The funnel -----------------------------------------------------------------------------------


def test_the_funnel_counts_and_sums_each_step(pipeline, call):
    (funnel,) = portfolio.funnel(Proposal.objects.all())
    assert (funnel.call_title, funnel.year) == (call.title, 2026)
    assert steps(funnel) == [
        ("proposals", 3, 120_000_000),
        ("shortlisted", 2, 80_000_000),
        ("approved", 1, 30_000_000),
        ("reported", 1, 30_000_000),
        ("financed", 1, 4_000_000_000),
        ("disbursed", 1, 1_000_000_000),
    ]
    assert [step.percent for step in funnel.steps] == [100.0, 66.7, 33.3, 33.3, 33.3, 33.3]


def test_the_funnel_follows_the_filters(pipeline):
    _filterset, proposals = portfolio.filtered_portfolio({"country": "PH"})
    (funnel,) = portfolio.funnel(proposals)
    assert steps(funnel) == [
        ("proposals", 1, 40_000_000),
        ("shortlisted", 1, 40_000_000),
        ("approved", 0, 0),
        ("reported", 0, 0),
        ("financed", 0, 0),
        ("disbursed", 0, 0),
    ]
    _filterset, proposals = portfolio.filtered_portfolio({"fiscal_year": "2027"})
    assert portfolio.funnel(proposals) == []
    filterset, proposals = portfolio.filtered_portfolio({"fiscal_year": "nineteen"})
    assert not filterset.is_valid() and not proposals.exists()
    assert list(filterset.form.fields) == ["call", "country", "fiscal_year"]


def test_the_fiscal_year_grouping_splits_at_1_april_jst(call, danang):
    """31 March 23:59 JST and 1 April 00:00 JST (still 31 March in UTC) fall in different
    Japanese fiscal years, in the funnel and in its filter."""
    last_minute = datetime.datetime(2027, 3, 31, 23, 59, tzinfo=JST)
    first_minute = datetime.datetime(2027, 4, 1, 0, 0, tzinfo=JST)
    assert first_minute.astimezone(datetime.UTC).date() == datetime.date(2027, 3, 31)
    for title, moment in (("Old year", last_minute), ("New year", first_minute)):
        Proposal.objects.create(
            call=call,
            city=danang,
            title=title,
            status=Status.SUBMITTED,
            submitted_at=moment,
            requested_jpy=1_000_000 if title == "Old year" else 2_000_000,
        )
    funnels = portfolio.funnel(Proposal.objects.all())
    assert [(f.year, f.steps[0].count, f.steps[0].yen) for f in funnels] == [
        (2027, 1, 2_000_000),
        (2026, 1, 1_000_000),
    ]
    _filterset, of_2026 = portfolio.filtered_portfolio({"fiscal_year": "2026"})
    assert list(of_2026.values_list("title", flat=True)) == ["Old year"]


def test_the_funnel_is_per_call_and_year(call, danang, staff):
    from .factories import make_call

    other = make_call("Smart JAMP 2028")
    moment = datetime.datetime(2026, 5, 1, tzinfo=JST)
    bulk_projects(call, danang, 2, moment=moment)
    bulk_projects(other, danang, 1, moment=moment, prefix="Other")
    bulk_projects(call, danang, 1, moment=moment + datetime.timedelta(days=365), prefix="Later")
    funnels = portfolio.funnel(Proposal.objects.all())
    assert [(f.call_title, f.year, f.steps[0].count, f.steps[4].yen) for f in funnels] == [
        ("Smart JAMP 2027", 2027, 1, 50_000_000),
        ("Smart JAMP 2027", 2026, 2, 100_000_000),
        ("Smart JAMP 2028", 2026, 1, 50_000_000),
    ]


def test_the_funnel_takes_three_queries_whatever_the_rows(call, danang, cebu):
    moment = datetime.datetime(2026, 5, 1, tzinfo=JST)
    bulk_projects(call, danang, 1, moment=moment)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            portfolio.funnel(Proposal.objects.all())
        return len(captured)

    assert queries() == 3
    bulk_projects(call, cebu, 30, moment=moment + datetime.timedelta(days=400), prefix="More")
    assert queries() == 3


# Leverage and the facilities ------------------------------------------------------------------


def test_leverage_is_committed_yen_per_yen_of_survey(pipeline, call, cebu, staff):
    (without_contract,) = bulk_projects(call, cebu, 1, moment=datetime.datetime.now(JST))
    Project.objects.filter(pk=without_contract.pk).update(contract_amount_jpy=None)
    (nothing_yet,) = bulk_projects(call, cebu, 1, moment=datetime.datetime.now(JST), prefix="N")
    FinancingTrack.objects.filter(project=nothing_yet).delete()
    rows = [
        (
            p.code,
            p.contract_amount_jpy,
            p.financing_committed_jpy,
            p.financing_disbursed_jpy,
            p.leverage,
        )
        for p in portfolio.leverage_table(Project.objects.all())
    ]
    assert rows == [
        (pipeline.code, 20_000_000, 4_000_000_000, 1_000_000_000, 200.0),
        (nothing_yet.code, 10_000_000, 0, 0, 0.0),
        (without_contract.code, None, 50_000_000, 0, None),
    ]
    # The declined, identified, referred and appraised tracks commit nothing.
    project = Project.objects.with_financing().get(pk=pipeline.pk)
    assert (project.has_financing, project.has_disbursement) == (True, True)


def test_the_facilities_use_against_their_envelopes(pipeline, call, cebu):
    uses = {use["facility"].kind: use for use in portfolio.facilities_use(Project.objects.all())}
    assert set(uses) == {"join_equity", "jbic_loan"}  # JICA has no facility here
    join, jbic = uses["join_equity"], uses["jbic_loan"]
    assert (join["facility"].envelope_jpy, jbic["facility"].envelope_jpy) == (
        50_000_000_000,
        200_000_000_000,
    )
    assert {key: join[key] for key in ("committed_jpy", "pipeline_jpy", "left_jpy")} == {
        "committed_jpy": 1_000_000_000,
        "pipeline_jpy": 500_000_000,
        "left_jpy": 49_000_000_000,
    }
    assert (join["committed_percent"], join["pipeline_percent"]) == (2.0, 1.0)
    assert {key: jbic[key] for key in ("committed_jpy", "pipeline_jpy", "left_jpy")} == {
        "committed_jpy": 3_000_000_000,
        "pipeline_jpy": 1_000_000_000,
        "left_jpy": 197_000_000_000,
    }
    assert (jbic["committed_percent"], jbic["pipeline_percent"]) == (1.5, 0.5)
    # Over some projects only: Cebu's have none of these tracks.
    (other,) = bulk_projects(call, cebu, 1, moment=datetime.datetime.now(JST))
    only_cebu = portfolio.facilities_use(Project.objects.filter(pk=other.pk))
    assert [(u["facility"].kind, u["committed_jpy"], u["pipeline_jpy"]) for u in only_cebu] == [
        ("jbic_loan", 0, 0),
        ("join_equity", 50_000_000, 0),
    ]


def test_a_facilitys_share_is_capped_and_its_envelope_never_below_zero():
    facility = Facility(kind="other", name="Small", envelope_jpy=1_000)
    assert facility.share_of_envelope(250) == 25.0
    assert facility.share_of_envelope(5_000) == 100.0
    assert facility.share_of_envelope(None) == 0.0
    assert facility.left_jpy(5_000) == 0
    assert Facility(kind="other", name="Empty", envelope_jpy=0).share_of_envelope(5) == 0.0


# Deliverables ---------------------------------------------------------------------------------


def plan(project, dates_and_states):
    for kind, (due, state) in dates_and_states.items():
        Deliverable.objects.filter(project=project, kind=kind).update(due_on=due, state=state)


@pytest.fixture
def due_this_month(project, call, cebu, cebu_lead, approve, clock):
    """Today is 10 February 2027 in JST (still the 9th in UTC)."""
    other = approve(make_proposal(call, cebu, cebu_lead, title="Buses"), cebu_lead).project
    d = datetime.date
    plan(
        project,
        {
            "inception": (d(2027, 1, 20), DeliverableState.RETURNED),  # overdue since January
            "interim": (d(2027, 2, 5), DeliverableState.PLANNED),  # overdue
            "draft_final": (d(2027, 2, 20), DeliverableState.PLANNED),  # due
            "final": (d(2027, 3, 5), DeliverableState.PLANNED),  # next month
        },
    )
    plan(
        other,
        {
            "inception": (d(2027, 2, 12), DeliverableState.UPLOADED),  # waits for staff
            "interim": (d(2027, 2, 1), DeliverableState.ACCEPTED),
            "draft_final": (d(2027, 2, 15), DeliverableState.PLANNED),  # due
            "final": (d(2027, 3, 31), DeliverableState.PLANNED),
        },
    )
    clock.set(datetime.datetime(2027, 2, 9, 16, 30, tzinfo=datetime.UTC))
    return project, other


def test_deliverables_overdue_and_due_this_month_in_jst(due_this_month):
    project, other = due_this_month
    from proposals.fiscal import jst_today

    today = jst_today()
    assert today == datetime.date(2027, 2, 10)
    found = portfolio.deliverables_this_month(Project.objects.all(), today)
    assert (found["first"], found["last"]) == (
        datetime.date(2027, 2, 1),
        datetime.date(2027, 2, 28),
    )
    assert (found["overdue"], found["due"], found["more"]) == (2, 2, 0)
    assert [(d.project.code, d.kind, d.is_overdue) for d in found["rows"]] == [
        (project.code, "inception", True),
        (project.code, "interim", True),
        (other.code, "draft_final", False),
        (project.code, "draft_final", False),
    ]
    # A cancelled survey owes nothing.
    Project.objects.filter(pk=other.pk).update(stage=ProjectStage.CANCELLED)
    found = portfolio.deliverables_this_month(Project.objects.all(), today)
    assert (found["overdue"], found["due"]) == (2, 1)
    # Only those of the projects asked for; at most `limit` rows, the count says the rest.
    found = portfolio.deliverables_this_month(Project.objects.all(), today, limit=1)
    assert (len(found["rows"]), found["more"]) == (1, 2)
    assert portfolio.deliverables_this_month(Project.objects.none(), today)["rows"] == []


def test_the_month_is_japans(due_this_month):
    # 28 February 15:00 UTC is 1 March in Japan: February's deliverables are all overdue.
    today = datetime.datetime(2027, 2, 28, 15, 0, tzinfo=datetime.UTC).astimezone(JST).date()
    found = portfolio.deliverables_this_month(Project.objects.all(), today)
    assert (found["first"], found["last"]) == (
        datetime.date(2027, 3, 1),
        datetime.date(2027, 3, 31),
    )
    assert (found["overdue"], found["due"]) == (4, 2)


# The map and the desk -------------------------------------------------------------------------


def test_projects_by_country_and_the_map(call, danang, cebu):
    moment = datetime.datetime(2026, 5, 1, tzinfo=JST)
    bulk_projects(call, danang, 4, moment=moment)
    bulk_projects(call, cebu, 1, moment=moment, prefix="Cebu")
    countries = portfolio.projects_by_country(Project.objects.all())
    assert countries == [
        {"iso": "PH", "name": "Philippines", "count": 1},
        {"iso": "VN", "name": "Viet Nam", "count": 4},
    ]
    drawn = portfolio.country_map(countries)
    assert {shape["iso"] for shape in drawn["shapes"]} == {
        "BN", "KH", "ID", "LA", "MY", "MM", "PH", "SG", "TH", "VN", "TL",
    }  # fmt: skip
    assert {s["iso"] for s in drawn["shapes"] if s["has_projects"]} == {"PH", "VN"}
    # Areas in proportion: four projects, the largest circle; one, half its radius (and more
    # than the smallest, to hold its count).
    assert [(m["iso"], m["count"], m["r"]) for m in drawn["markers"]] == [
        ("VN", 4, portfolio.LARGEST),
        ("PH", 1, round(portfolio.SMALLEST + (portfolio.LARGEST - portfolio.SMALLEST) / 2, 1)),
    ]
    # Viet Nam's circle stands inside the map, where the projection puts 108.3°E, 14.2°N.
    vn = drawn["markers"][0]
    assert (vn["x"], vn["y"]) == (163.0, 148.0)
    assert 0 < vn["x"] < drawn["width"] and 0 < vn["y"] < drawn["height"]
    assert portfolio.country_map([])["markers"] == []


def test_every_outline_lies_on_the_map():
    for iso, rings in portfolio.OUTLINES.items():
        for ring in rings:
            assert len(ring) >= 4, iso
            for lon, lat in ring:
                x, y = portfolio._project(lon, lat)
                assert 0 <= x <= portfolio.MAP_WIDTH and 0 <= y <= portfolio.MAP_HEIGHT, iso
        assert portfolio.OUTLINE_PATHS[iso].count("M") == len(rings)


def test_the_desks_backlog_uses_the_desks_rule(danang_lead, clock):
    now = clock.set(datetime.datetime(2027, 2, 10, 3, 0, tzinfo=datetime.UTC))  # a Wednesday
    ages = {
        "fresh": now - datetime.timedelta(days=1),
        "old": now - datetime.timedelta(days=14),
        "answered": now - datetime.timedelta(days=14),
        "closed": now - datetime.timedelta(days=14),
    }
    for subject, opened in ages.items():
        request = DeskRequest.objects.create(
            topic="financing", subject=subject, body="?", requester=danang_lead
        )
        state = {"answered": DeskState.ANSWERED, "closed": DeskState.CLOSED}.get(subject)
        DeskRequest.objects.filter(pk=request.pk).update(
            created_at=opened,
            state=state or DeskState.OPEN,
            first_answered_at=now if subject == "answered" else None,
        )
    assert portfolio.desk_backlog(now) == {"open": 2, "overdue": 1}
