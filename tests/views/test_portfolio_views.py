"""The staff portfolio's page (/staff/portfolio/), its exports and the facilities' admin: for
programme staff only, the same figures as the rules, queries that do not grow with rows."""

import csv
import datetime
import io
import json

import openpyxl
import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from proposals.fiscal import JST
from proposals.models import (
    AuditEvent,
    DeskRequest,
    Facility,
    FinancingTrack,
    Project,
    Proposal,
)

from ..factories import UserFactory
from ..test_portfolio import bulk_projects, pipeline_fixture  # noqa: F401 (the fixture "pipeline")

pytestmark = pytest.mark.django_db

PORTFOLIO = reverse("staff_portfolio")
EXPORTS = [
    (name, fmt)
    for name in (
        "staff_export_projects",
        "staff_export_deliverables",
        "staff_export_financing_tracks",
    )
    for fmt in ("csv", "xlsx", "json")
]


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def read_csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


def read_xlsx(response):
    sheet = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    return [[cell.value for cell in row] for row in sheet.iter_rows()], sheet


def read_json(response):
    return json.loads(b"".join(response.streaming_content))


@pytest.fixture
def consultant(project):
    user = UserFactory(email="consultant@nippon-survey.example", full_name="Kenji Mori")
    project.consultants.add(user)
    return user


# Who may see it -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["anonymous", "danang_lead", "consultant", "reviewer"])
def test_the_portfolio_and_its_exports_are_for_staff_only(request, role, pipeline):
    client = Client()
    if role != "anonymous":
        client.force_login(request.getfixturevalue(role))
    for url in [PORTFOLIO] + [reverse(name, args=[fmt]) for name, fmt in EXPORTS]:
        response = client.get(url)
        assert response.status_code == 404, url
        assert pipeline.proposal.title.encode() not in response.content
    assert not AuditEvent.objects.filter(action="export.downloaded").exists()


def test_staff_see_the_portfolio_from_the_dashboard(staff, pipeline):
    client = signed_in(staff)
    dashboard = client.get(reverse("staff_dashboard")).content.decode()
    assert f'<a href="{PORTFOLIO}">' in dashboard
    assert client.get(PORTFOLIO).status_code == 200
    assert client.post(PORTFOLIO).status_code == 405
    for name, fmt in EXPORTS:
        assert client.get(reverse(name, args=[fmt])).status_code == 200
    assert client.get(reverse("staff_export_projects", args=["pdf"])).status_code == 404


# The page -------------------------------------------------------------------------------------


def test_the_page_shows_the_funnel_map_facilities_leverage_and_desk(staff, pipeline, call):
    response = signed_in(staff).get(PORTFOLIO)
    page = response.content.decode()
    (funnel,) = response.context["funnels"]
    assert [(s.key, s.count, s.yen) for s in funnel.steps][-2:] == [
        ("financed", 1, 4_000_000_000),
        ("disbursed", 1, 1_000_000_000),
    ]
    assert f"{call.title} · JFY 2026" in page
    assert "¥120,000,000</span>" in page and "¥4,000,000,000</span>" in page
    # The map: drawn on the server, with the same figures in a table beside it.
    assert '<svg viewBox="0 0 500 400"' in page and "<script" not in page
    assert "<title>Viet Nam: 1 project</title>" in page
    assert '<th scope="row" class="fw-normal">Viet Nam</th><td class="text-end">1</td>' in page
    assert response.context["countries"] == [{"iso": "VN", "name": "Viet Nam", "count": 1}]
    assert "http://" not in page.split('<svg viewBox="0 0 500 400"')[1].split("</svg>")[0]
    # The facilities, in words as well as bars.
    assert "Committed ¥1,000,000,000 (2.0% of the envelope)" in page
    assert "In the pipeline ¥500,000,000 (1.0%)" in page
    assert "Not committed ¥197,000,000,000" in page
    assert "envelope ¥200,000,000,000" in page
    # Leverage.
    assert "¥20,000,000</td>" in page and "200.00×" in page
    assert f'href="/projects/{pipeline.code}/"' in page
    # The exports, with the same filters.
    assert f'href="{reverse("staff_export_projects", args=["csv"])}?"' in page


def test_the_page_follows_the_filters(staff, pipeline, cebu):
    client = signed_in(staff)
    response = client.get(PORTFOLIO, {"country": "PH"})
    assert response.context["countries"] == []
    assert response.context["leverage"].paginator.count == 0
    assert [f.steps[0].count for f in response.context["funnels"]] == [1]
    page = response.content.decode()
    assert pipeline.proposal.title not in page
    assert f'href="{reverse("staff_export_projects", args=["csv"])}?country=PH"' in page
    invalid = client.get(PORTFOLIO, {"fiscal_year": "soon"})
    assert invalid.context["funnels"] == [] and invalid.context["countries"] == []
    assert "Enter a number." in invalid.content.decode()


def test_the_page_lists_deliverables_due_and_overdue_with_links(staff, project, clock):
    # The inception report (1 June) and the interim (1 October) are overdue in October.
    year = project.fiscal_year
    clock.set(datetime.datetime(year, 10, 15, 1, 0, tzinfo=datetime.UTC))
    project.deliverables.filter(kind="draft_final").update(due_on=datetime.date(year, 10, 30))
    response = signed_in(staff).get(PORTFOLIO)
    found = response.context["deliverables"]
    assert [(d.kind, d.is_overdue) for d in found["rows"]] == [
        ("inception", True),
        ("interim", True),
        ("draft_final", False),
    ]
    page = response.content.decode()
    assert f'href="/projects/{project.code}/#deliverable-interim"' in page
    assert f"Today (15 Oct {year}, JST): 2 overdue, 1 due by 31 Oct {year}." in page


def test_the_desk_backlog_links_to_the_desk(staff, danang_lead, clock):
    now = clock.set(datetime.datetime(2027, 2, 10, 3, 0, tzinfo=datetime.UTC))
    for days in (1, 14):
        request = DeskRequest.objects.create(
            topic="financing", subject=f"{days} days", body="?", requester=danang_lead
        )
        DeskRequest.objects.filter(pk=request.pk).update(
            created_at=now - datetime.timedelta(days=days)
        )
    page = signed_in(staff).get(PORTFOLIO).content.decode()
    assert "2 open requests" in page
    assert "1 overdue for its first answer (more than 5 working days)" in page
    assert f'<a href="{reverse("desk")}?overdue=on">' in page


def test_the_page_queries_do_not_grow_with_projects(staff, call, danang, cebu, assert_page_queries):
    from smartjamp import cache_versions

    def rebuilt() -> None:
        # Bulk inserts send no signal: a new number, so that the page is built afresh.
        cache_versions.bump(cache_versions.PORTFOLIO)

    moment = datetime.datetime.now(JST)
    bulk_projects(call, danang, 1, moment=moment)
    client = signed_in(staff)
    client.get(PORTFOLIO)
    rebuilt()
    with CaptureQueriesContext(connection) as few:
        client.get(PORTFOLIO)
    count = len(
        [
            q
            for q in few.captured_queries
            if "smartjamp_cache" not in q["sql"] and "SAVEPOINT" not in q["sql"]
        ]
    )
    bulk_projects(call, cebu, 60, moment=moment - datetime.timedelta(days=400), prefix="More")
    rebuilt()
    with assert_page_queries(count):
        response = client.get(PORTFOLIO)
    figures = response.context["portfolio"]
    assert figures["project_count"] == 61
    assert len(figures["leverage"].object_list) == 50
    assert len(figures["deliverables"]["rows"]) == 50
    assert figures["deliverables"]["more"] == 11
    second = client.get(PORTFOLIO, {"page": "2"})
    assert len(second.context["portfolio"]["leverage"].object_list) == 11
    assert "page=2" in response.content.decode()


def test_the_page_is_kept_until_what_it_shows_changes(staff, pipeline, assert_page_queries):
    import re

    def page() -> str:
        # Without the sign-out form's token, which is new on every response.
        html = client.get(PORTFOLIO).content.decode()
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)

    client = signed_in(staff)
    first = page()
    with assert_page_queries(3):  # the user and staff's permissions (two): nothing else
        again = page()
    assert again == first
    # A change of what it shows (here a track's committed amount) shows at once.
    track = FinancingTrack.objects.filter(committed_jpy__isnull=False).first()
    track.committed_jpy += 1_000_000
    track.save()
    assert page() != first


# The exports ----------------------------------------------------------------------------------


def test_the_projects_export_in_three_formats(staff, pipeline):
    client = signed_in(staff)
    url = reverse("staff_export_projects", args=["csv"])
    response = client.get(url)
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="smartjamp-projects-')
    header, *rows = read_csv(response)
    assert header == [
        "Project code",
        "Title",
        "Proposal reference",
        "City",
        "Country",
        "Call",
        "Stage",
        "Fiscal year funded",
        "Survey reports by",
        "Consultant (company)",
        "Corporate number",
        "Contract date",
        "Survey contract (JPY)",
        "Approved (JPY)",
        "Committed (JPY)",
        "Disbursed (JPY)",
        "Leverage (yen committed per yen of survey)",
        "Published",
        "Created (JST)",
    ]
    project = pipeline
    assert rows == [
        [
            project.code,
            "Flood early warning",
            project.proposal.reference_code,
            "Da Nang",
            "Viet Nam",
            project.proposal.call.title,
            "Investment promotion",
            str(project.fiscal_year),
            project.report_by.isoformat(),
            "",
            "",
            "",
            "20000000",
            "30000000",
            "4000000000",
            "1000000000",
            "200.0",
            "False",
            project.created_at.astimezone(JST).strftime("%Y-%m-%d %H:%M"),
        ]
    ]
    (xlsx_header, *xlsx_rows), _sheet = read_xlsx(
        client.get(reverse("staff_export_projects", args=["xlsx"]))
    )
    assert xlsx_header == header
    assert xlsx_rows[0][12:17] == [20_000_000, 30_000_000, 4_000_000_000, 1_000_000_000, 200.0]
    (data,) = read_json(client.get(reverse("staff_export_projects", args=["json"])))
    assert {key: data[key] for key in ("code", "stage", "committed_jpy", "leverage")} == {
        "code": project.code,
        "stage": "Investment promotion",
        "committed_jpy": 4_000_000_000,
        "leverage": 200.0,
    }
    event = AuditEvent.objects.filter(action="export.downloaded").first()
    assert event.details["export"] == "projects" and event.actor == staff
    # Without a contract amount there is no leverage: empty in CSV, null in JSON.
    Project.objects.filter(pk=project.pk).update(contract_amount_jpy=None)
    (row,) = read_csv(client.get(url))[1:]
    assert row[12:17] == ["", "30000000", "4000000000", "1000000000", ""]
    (data,) = read_json(client.get(reverse("staff_export_projects", args=["json"])))
    assert (data["contract_jpy"], data["leverage"]) == (None, None)


def test_the_deliverables_and_tracks_exports(staff, pipeline, clock):
    year = pipeline.fiscal_year
    clock.set(datetime.datetime(year, 7, 1, 3, 0, tzinfo=datetime.UTC))
    client = signed_in(staff)
    header, *rows = read_csv(client.get(reverse("staff_export_deliverables", args=["csv"])))
    assert header == [
        "Project code",
        "Title",
        "City",
        "Country",
        "Stage",
        "Deliverable",
        "Due",
        "State",
        "Overdue",
    ]
    # The project is in investment promotion: its planned reports are owed by nobody now.
    assert [row[5:] for row in rows] == [
        ["Inception report", f"{year}-06-01", "Planned", "False"],
        ["Interim report", f"{year}-10-01", "Planned", "False"],
        ["Draft final report", f"{year + 1}-02-01", "Planned", "False"],
        ["Final report", f"{year + 1}-03-31", "Accepted", "False"],
    ]
    Project.objects.filter(pk=pipeline.pk).update(stage="formation_survey")
    data = read_json(client.get(reverse("staff_export_deliverables", args=["json"])))
    assert [(row["kind"], row["overdue"]) for row in data] == [
        ("Inception report", True),
        ("Interim report", False),
        ("Draft final report", False),
        ("Final report", False),
    ]
    header, *rows = read_csv(client.get(reverse("staff_export_financing_tracks", args=["csv"])))
    assert header[:9] == [
        "Project code",
        "Title",
        "City",
        "Country",
        "Financing",
        "Counterpart",
        "Sought (JPY)",
        "Committed (JPY)",
        "Status",
    ]
    assert [row[4:9] for row in rows] == [
        ["JBIC loan", "jbic_loan desk", "3000000000", "3000000000", "Approved"],
        ["JOIN equity", "join_equity desk", "1000000000", "1000000000", "Disbursed"],
        ["JOIN equity", "join_equity desk", "500000000", "", "Identified"],
        ["JBIC loan", "jbic_loan desk", "1000000000", "", "Referred"],
        ["JBIC loan", "jbic_loan desk", "2000000000", "", "Declined"],
        ["JICA ODA loan", "jica_loan desk", "900000000", "", "Under appraisal"],
    ]
    assert read_csv(
        client.get(reverse("staff_export_financing_tracks", args=["csv"]), {"country": "PH"})
    ) == [header]


INJECTIONS = ['=HYPERLINK("http://evil.example","x")', "+1+cmd", "@SUM(A1:A9)", "\tcmd", "|calc"]


def test_the_exports_neutralise_formulas(staff, pipeline):
    Proposal.objects.filter(pk=pipeline.proposal_id).update(title=INJECTIONS[0])
    Project.objects.filter(pk=pipeline.pk).update(
        consultant_company=INJECTIONS[1], corporate_number=INJECTIONS[2]
    )
    for n, text in enumerate(INJECTIONS):
        FinancingTrack.objects.filter(
            pk__in=pipeline.financing_tracks.values("pk")[n : n + 1]
        ).update(counterpart=text)
    client = signed_in(staff)
    for name in (
        "staff_export_projects",
        "staff_export_financing_tracks",
        "staff_export_deliverables",
    ):
        rows = read_csv(client.get(reverse(name, args=["csv"])))[1:]
        texts = [cell for row in rows for cell in row if cell and cell[0] in "=+-@|\t\r'"]
        assert texts, name
        assert all(cell.startswith("'") for cell in texts), texts
    (_header, *rows), sheet = read_xlsx(client.get(reverse("staff_export_projects", args=["xlsx"])))
    assert rows[0][1] == INJECTIONS[0] and rows[0][9] == INJECTIONS[1]
    assert sheet.cell(row=2, column=2).data_type == "s"  # text, never a formula
    (data,) = read_json(client.get(reverse("staff_export_projects", args=["json"])))
    assert data["title"] == INJECTIONS[0]  # JSON is data, not a spreadsheet


@pytest.mark.parametrize(
    "name", ["staff_export_projects", "staff_export_deliverables", "staff_export_financing_tracks"]
)
def test_export_queries_do_not_grow_with_rows(staff, call, danang, name):
    moment = datetime.datetime.now(JST)
    bulk_projects(call, danang, 1, moment=moment)
    client = signed_in(staff)
    url = reverse(name, args=["csv"])

    def count():
        with CaptureQueriesContext(connection) as captured:
            rows = read_csv(client.get(url))
        return len(captured.captured_queries), len(rows)

    count()  # the session, the user and the permissions are then in the cache
    few, rows = count()
    assert rows == 2
    bulk_projects(call, danang, 40, moment=moment, prefix="More")
    assert count() == (few, 42)


# The facilities in the admin ------------------------------------------------------------------


def test_staff_edit_an_envelope_in_the_admin_with_its_use_in_yen(staff, pipeline):
    client = signed_in(staff)
    listing = client.get(reverse("admin:proposals_facility_changelist")).content.decode()
    assert "¥50,000,000,000" in listing and "¥200,000,000,000" in listing
    assert "¥3,000,000,000" in listing and "¥1,000,000,000" in listing  # JBIC's use
    join = Facility.objects.get(kind="join_equity")
    url = reverse("admin:proposals_facility_change", args=[join.pk])
    page = client.get(url).content.decode()
    assert "¥50,000,000,000" in page and "¥500,000,000" in page
    response = client.post(url, {"name": "JOIN", "envelope_jpy": "60000000000"})
    assert response.status_code == 302, response.content.decode()[:2000]
    join.refresh_from_db()
    assert (join.kind, join.envelope_jpy) == ("join_equity", 60_000_000_000)
    event = AuditEvent.objects.get(action="admin.change", details__model="proposals.facility")
    assert event.actor == staff
    page = signed_in(staff).get(PORTFOLIO).content.decode()
    assert "envelope ¥60,000,000,000" in page


def test_only_staff_reach_the_facilities_admin(reviewer, danang_lead):
    url = reverse("admin:proposals_facility_changelist")
    assert signed_in(reviewer).get(url).status_code == 403
    assert signed_in(danang_lead).get(url).status_code == 302  # to the admin's sign-in
