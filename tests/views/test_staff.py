import csv
import datetime
import io
import json

import openpyxl
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from proposals import services
from proposals.models import ExportJob, FocusArea, JapanesePartner, Notification, Proposal, Sector

from ..factories import make_proposal, review, under_review

pytestmark = pytest.mark.django_db


def read_csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


def read_xlsx(response) -> list[list]:
    content = b"".join(response.streaming_content)
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    return [[cell.value for cell in row] for row in sheet.iter_rows()], sheet


@pytest.fixture
def approved(call, danang, danang_lead, staff, reviewer, reviewer2, clock):
    """Da Nang's proposal: submitted 2027-02-10 10:00 JST, reviewed 4.5 and 2.6, approved."""
    clock.set(datetime.datetime(2027, 2, 10, 1, 0, tzinfo=datetime.UTC))
    from proposals.models import Call

    Call.objects.filter(pk=call.pk).update(
        opens_at=datetime.datetime(2027, 1, 1, tzinfo=datetime.UTC),
        closes_at=datetime.datetime(2027, 3, 1, tzinfo=datetime.UTC),
    )
    call.refresh_from_db()
    proposal = under_review(
        make_proposal(call, danang, danang_lead, title="Cảnh báo lũ"), lead=danang_lead, staff=staff
    )
    review(proposal, reviewer, [5, 4], staff=staff)  # (15 + 8) / 5 = 4.6
    review(proposal, reviewer2, [3, 2], staff=staff)  # (9 + 4) / 5 = 2.6
    services.shortlist_proposal(actor=staff, proposal=proposal)
    clock.set(datetime.datetime(2027, 4, 2, 3, 0, tzinfo=datetime.UTC))
    services.approve_proposal(actor=staff, proposal=proposal, amount=30_000_000, letter="Yes")
    proposal.refresh_from_db()
    return proposal


@pytest.fixture
def other(call, cebu, cebu_lead):
    """Cebu's draft (written directly: the clock of `approved` may have closed the call)."""
    return Proposal.objects.create(call=call, city=cebu, title="Bus fares", created_by=cebu_lead)


EXPECTED_HEADER = [
    "Reference code",
    "Title",
    "City",
    "Country",
    "Call",
    "Stage",
    "Status",
    "Submitted (JST)",
    "Fiscal year",
    "Decided (JST)",
    "Requested (JPY)",
    "Approved (JPY)",
    "Focus areas",
    "Sectors",
    "Japanese partners",
    "Reviews",
    "Score",
    "Spread",
    "Decision",
]


def test_csv_export_columns_and_values(client, staff, approved, other):
    client.force_login(staff)
    response = client.get(reverse("staff_export_proposals", args=["csv"]), {"country": "VN"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="smartjamp-proposals-')
    header, *rows = read_csv(response)
    assert header == EXPECTED_HEADER
    assert rows == [
        [
            approved.reference_code,
            "Cảnh báo lũ",
            "Da Nang",
            "Viet Nam",
            approved.call.title,
            "Project formation survey",
            "Approved",
            "2027-02-10 10:00",
            "2026",
            "2027-04-02 12:00",
            "40000000",
            "30000000",
            "Quality environment",
            "Disaster risk reduction",
            "Tokyo Engineering",
            "2",
            "3.6",
            "2.0",
            "Approved",
        ]
    ]


def test_excel_and_json_exports_hold_the_same(client, staff, approved, other):
    client.force_login(staff)
    (header, *rows), _sheet = read_xlsx(
        client.get(reverse("staff_export_proposals", args=["xlsx"]), {"country": "VN"})
    )
    assert header == EXPECTED_HEADER
    assert rows[0][:4] == [approved.reference_code, "Cảnh báo lũ", "Da Nang", "Viet Nam"]
    assert rows[0][10:12] == [40_000_000, 30_000_000]
    data = json.loads(
        b"".join(
            client.get(
                reverse("staff_export_proposals", args=["json"]), {"country": "VN"}
            ).streaming_content
        )
    )
    assert data == [
        {
            "reference": approved.reference_code,
            "title": "Cảnh báo lũ",
            "city": "Da Nang",
            "country": "Viet Nam",
            "call": approved.call.title,
            "stage": "Project formation survey",
            "status": "Approved",
            "submitted": "2027-02-10 10:00",
            "fiscal_year": 2026,
            "decided": "2027-04-02 12:00",
            "requested_jpy": 40000000,
            "approved_jpy": 30000000,
            "focus_areas": "Quality environment",
            "sectors": "Disaster risk reduction",
            "partners": "Tokyo Engineering",
            "reviews": 2,
            "score": 3.6,
            "spread": 2.0,
            "decision": "Approved",
        }
    ]


def test_column_choice(client, staff, approved):
    client.force_login(staff)
    response = client.get(
        reverse("staff_export_proposals", args=["csv"]), {"columns": ["title", "country"]}
    )
    assert read_csv(response) == [["Title", "Country"], ["Cảnh báo lũ", "Viet Nam"]]


@pytest.mark.parametrize(
    ("query", "titles"),
    [
        ({}, ["Bus fares", "Cảnh báo lũ"]),
        ({"country": "PH"}, ["Bus fares"]),
        ({"status": ["approved"]}, ["Cảnh báo lũ"]),
        ({"status": ["draft", "approved"]}, ["Bus fares", "Cảnh báo lũ"]),
        ({"sector": "SECTOR"}, ["Cảnh báo lũ"]),
        ({"focus_area": "FOCUS"}, ["Cảnh báo lũ"]),
        ({"ascn": "true"}, ["Bus fares", "Cảnh báo lũ"]),
        ({"ascn": "false"}, []),
        ({"submitted_from": "2027-02-10", "submitted_to": "2027-02-10"}, ["Cảnh báo lũ"]),
        ({"submitted_from": "2027-02-11"}, []),
        ({"fiscal_year": "2026"}, ["Cảnh báo lũ"]),
        ({"fiscal_year": "2027"}, []),
        ({"score_min": "3.5"}, ["Cảnh báo lũ"]),
        ({"score_min": "3.7"}, []),
        ({"score_max": "3.6"}, ["Cảnh báo lũ"]),
        ({"call": "CALL"}, ["Bus fares", "Cảnh báo lũ"]),
    ],
)
def test_filters(client, staff, approved, other, query, titles):
    query = {
        key: {
            "SECTOR": Sector.objects.get(code="disaster-risk").pk,
            "FOCUS": FocusArea.objects.get(code="quality-environment").pk,
            "CALL": approved.call_id,
        }.get(value, value)
        if isinstance(value, str)
        else value
        for key, value in query.items()
    }
    client.force_login(staff)
    rows = read_csv(
        client.get(reverse("staff_export_proposals", args=["csv"]), {**query, "columns": "title"})
    )
    assert sorted(row[0] for row in rows[1:]) == titles
    page = client.get(reverse("staff_dashboard"), query)
    assert page.context["row_count"] == len(titles)


INJECTIONS = [
    '=HYPERLINK("http://evil.example","x")',
    "+1",
    "-1",
    "@SUM(A1:A9)",
    "\tcmd",
    "\rcmd",
    "-1+cmd|' /C calc'!A0",
]


def test_formula_injection_comes_out_inert(client, staff, danang, danang_lead, call):
    client.force_login(staff)
    for text in INJECTIONS:
        proposal = make_proposal(call, danang, danang_lead, title=text, complete=False)
        JapanesePartner.objects.create(proposal=proposal, name=text, kind="company", role="x")
    rows = read_csv(
        client.get(
            reverse("staff_export_proposals", args=["csv"]), {"columns": ["title", "partners"]}
        )
    )[1:]
    cells = sorted(cell for row in rows for cell in row)
    for cell in cells:
        # A cell a spreadsheet would treat as a formula starts with = + @ | or with a tab or
        # carriage return before one; every such cell is prefixed. "-1" is a plain number.
        assert cell == "-1" or cell.startswith("'"), repr(cell)
    (_header, *xlsx_rows), sheet = read_xlsx(
        client.get(
            reverse("staff_export_proposals", args=["xlsx"]), {"columns": ["title", "partners"]}
        )
    )
    assert sorted(v for row in xlsx_rows for v in row) == sorted(INJECTIONS * 2)
    assert {cell.data_type for row in sheet.iter_rows(min_row=2) for cell in row} == {"s"}


def test_non_latin_text_round_trips(client, staff, danang, danang_lead, call):
    titles = ["Thành phố thông minh Đà Nẵng", "เมืองอัจฉริยะ", "スマートシティ", "ស្មាតស៊ីធី", "မြို့ပြ"]
    for title in titles:
        make_proposal(call, danang, danang_lead, title=title, complete=False)
    client.force_login(staff)
    csv_titles = [
        row[0]
        for row in read_csv(
            client.get(reverse("staff_export_proposals", args=["csv"]), {"columns": "title"})
        )[1:]
    ]
    (_h, *xlsx_rows), _sheet = read_xlsx(
        client.get(reverse("staff_export_proposals", args=["xlsx"]), {"columns": "title"})
    )
    assert sorted(csv_titles) == sorted(row[0] for row in xlsx_rows) == sorted(titles)


def test_summaries_review_progress_and_ranking(client, staff, approved, other, reviewer):
    client.force_login(staff)
    by_country = read_csv(client.get(reverse("staff_export_summary", args=["country", "csv"])))
    assert by_country == [
        ["Country", "Proposals", "Requested (JPY)", "Approved (JPY)"],
        ["Philippines", "1", "0", "0"],
        ["Viet Nam", "1", "40000000", "30000000"],
    ]
    by_status = read_csv(client.get(reverse("staff_export_summary", args=["status", "csv"])))
    assert by_status[1:] == [["Approved", "1", "40000000", "30000000"], ["Draft", "1", "0", "0"]]
    by_sector = read_csv(client.get(reverse("staff_export_summary", args=["sector", "csv"])))
    assert by_sector[1:] == [
        ["Disaster risk reduction", "1", "40000000", "30000000"],
        ["(none)", "1", "0", "0"],
    ]
    progress = read_csv(client.get(reverse("staff_export_review_progress", args=["csv"])))
    assert progress[0] == [
        "Reviewer",
        "Email",
        "Assigned",
        "Submitted",
        "Outstanding",
        "Overdue",
        "Declined",
    ]
    assert progress[1][1:] == ["reviewer1@example.org", "1", "1", "0", "0", "0"]
    ranking = read_csv(
        client.get(reverse("staff_export_ranking", args=[approved.call.code, "csv"]))
    )
    assert ranking[1][:2] == ["1", approved.reference_code]
    assert ranking[1][6:9] == ["3.6", "0.0", "2.0"]


def test_a_median_call_shows_the_median_everywhere(client, call, danang, danang_lead, staff):
    """The admin list, the dashboard and its filters, the export and the ranking all combine
    the reviews as the call says: here 5.0, 1.0 and 2.0, whose median is 2 (mean 2.67)."""
    from proposals.models import Call
    from proposals.roles import REVIEWERS

    from ..conftest import in_group
    from ..factories import UserFactory

    Call.objects.filter(pk=call.pk).update(score_aggregation="median")
    proposal = under_review(make_proposal(call, danang, danang_lead), lead=danang_lead, staff=staff)
    for n, values in enumerate([[5, 5], [1, 1], [2, 2]]):
        reviewer = in_group(UserFactory(email=f"r{n}@example.org", is_staff=True), REVIEWERS)
        review(proposal, reviewer, values, staff=staff)
    client.force_login(staff)

    admin_list = client.get(reverse("admin:proposals_proposal_changelist")).content.decode()
    assert '<td data-label="Score" class="field-combined_score">2.00</td>' in admin_list
    assert 'class="field-spread"><strong class="disagreement">4.00 ⚠' in admin_list

    dashboard = client.get(reverse("staff_dashboard"))
    score = dashboard.context["header"].index("Score")
    assert [row[score] for row in dashboard.context["rows"]] == [2.0]
    for query, found in [({"score_min": "2.1"}, 0), ({"score_max": "2.0"}, 1)]:
        assert client.get(reverse("staff_dashboard"), query).context["row_count"] == found

    export = read_csv(
        client.get(reverse("staff_export_proposals", args=["csv"]), {"columns": ["score"]})
    )
    assert export == [["Score"], ["2.0"]]

    ranking = read_csv(client.get(reverse("staff_export_ranking", args=[call.code, "csv"])))
    assert ranking[1][5:9] == ["3", "2.0", "0.0", "4.0"]
    page = client.get(reverse("admin:proposals_call_ranking", args=[call.pk])).content.decode()
    assert '<td data-label="Reviews">3</td>\n      <td data-label="Score">2.00</td>' in page


def test_csv_export_queries_do_not_depend_on_rows(client, staff, call, danang, danang_lead):
    client.force_login(staff)
    make_proposal(call, danang, danang_lead, complete=False)
    url = reverse("staff_export_proposals", args=["csv"])

    def count():
        with CaptureQueriesContext(connection) as captured:
            assert len(read_csv(client.get(url))) >= 2
        return len(captured.captured_queries)

    count()  # the session, the user and the permissions are then in the cache
    few = count()
    Proposal.objects.bulk_create(
        Proposal(call=call, city=danang, title=f"P{n}") for n in range(120)
    )
    assert count() == few


def test_dashboard_queries_do_not_grow(
    client, staff, call, danang, danang_lead, django_assert_num_queries
):
    from django.core.cache import cache

    from smartjamp import cache_versions

    client.force_login(staff)
    make_proposal(call, danang, danang_lead, complete=False)
    client.get(reverse("staff_dashboard"))
    cache.clear()
    with CaptureQueriesContext(connection) as one:
        client.get(reverse("staff_dashboard"))
    Proposal.objects.bulk_create(Proposal(call=call, city=danang, title=f"P{n}") for n in range(60))
    cache.clear()
    with django_assert_num_queries(len(one.captured_queries)):
        response = client.get(reverse("staff_dashboard"))
    assert response.context["row_count"] == 61 and len(response.context["rows"]) == 50
    Proposal.objects.bulk_create(Proposal(call=call, city=danang, title=f"Q{n}") for n in range(60))
    cache_versions.bump(cache_versions.REPORTS)  # bulk inserts send no signal
    response = client.get(reverse("staff_dashboard"))
    assert (response.context["row_count"], len(response.context["rows"])) == (121, 50)


def test_dashboard_is_cached_until_data_changes(
    client, staff, call, danang, danang_lead, django_capture_on_commit_callbacks
):
    client.force_login(staff)
    proposal = make_proposal(call, danang, danang_lead)
    client.get(reverse("staff_dashboard"))
    with CaptureQueriesContext(connection) as cached:
        response = client.get(reverse("staff_dashboard"))
    assert 'scope="row" class="fw-normal">Draft</th><td class="text-end">1<' in (
        response.content.decode()
    )
    # Served from the cache: no aggregate over the proposals, not even the filter form's lists.
    assert not [q for q in cached.captured_queries if "COUNT(" in q["sql"] or "SUM(" in q["sql"]]
    assert not [q for q in cached.captured_queries if "proposals_sector" in q["sql"]]
    with django_capture_on_commit_callbacks(execute=True):
        services.submit_proposal(user=danang_lead, proposal=proposal)
    response = client.get(reverse("staff_dashboard"))
    assert response.context["calls"][0]["statuses"] == [("Submitted", 1, 100.0)]


def test_large_excel_export_runs_in_the_background(
    client, staff, call, danang, danang_lead, settings, django_capture_on_commit_callbacks
):
    settings.EXPORT_BACKGROUND_ROWS = 3
    Proposal.objects.bulk_create(Proposal(call=call, city=danang, title=f"P{n}") for n in range(5))
    client.force_login(staff)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(reverse("staff_export_proposals", args=["xlsx"]), {"country": "VN"})
    job = ExportJob.objects.get()
    assert response["Location"] == reverse("staff_export_job", args=[job.code])
    assert (job.state, job.total, job.done) == ("done", 5, 5)
    page = client.get(response["Location"]).content.decode()
    assert "Ready: 5 proposals." in page
    download = client.get(reverse("staff_export_job_download", args=[job.code]))
    (_header, *rows), _sheet = read_xlsx(download)
    assert len(rows) == 5
    assert Notification.objects.get(kind="export_ready").email == staff.email

    from ..conftest import in_group
    from ..factories import UserFactory

    colleague = in_group(
        UserFactory(email="colleague@example.org", is_staff=True), "Programme staff"
    )
    other = Client()
    other.force_login(colleague)
    assert other.get(reverse("staff_export_job_download", args=[job.code])).status_code == 404

    ExportJob.objects.filter(pk=job.pk).update(
        expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    assert client.get(reverse("staff_export_job_download", args=[job.code])).status_code == 404
    from proposals import exports

    name = job.file.name
    assert exports.purge() == 1
    assert not job.file.storage.exists(name)


def test_admin_action_exports_the_selected(client, staff, approved, other):
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

    client.force_login(staff)
    response = client.post(
        reverse("admin:proposals_proposal_changelist"),
        {"action": "export_csv_selected", ACTION_CHECKBOX_NAME: [other.pk]},
    )
    rows = read_csv(response)
    assert [row[1] for row in rows[1:]] == ["Bus fares"]


REPORT_URLS = [
    ("staff_dashboard", []),
    ("staff_export_proposals", ["csv"]),
    ("staff_export_proposals", ["xlsx"]),
    ("staff_export_proposals", ["json"]),
    ("staff_export_summary", ["country", "csv"]),
    ("staff_export_review_progress", ["csv"]),
]


@pytest.mark.parametrize("role", ["anonymous", "danang_lead", "cebu_lead", "reviewer", "staff"])
def test_reports_are_for_staff_only(client, request, role, approved):
    if role != "anonymous":
        client.force_login(request.getfixturevalue(role))
    urls = [reverse(name, args=args) for name, args in REPORT_URLS]
    urls.append(reverse("staff_export_ranking", args=[approved.call.code, "csv"]))
    job = ExportJob.objects.create(
        requested_by=request.getfixturevalue("staff"),
        expires_at=timezone.now() + datetime.timedelta(days=1),
        state="done",
    )
    urls += [
        reverse("staff_export_job", args=[job.code]),
        reverse("staff_export_job_download", args=[job.code]),
    ]
    expected = 200 if role == "staff" else 404
    for url in urls[:-1]:
        assert client.get(url).status_code == expected, url
    assert client.get(urls[-1]).status_code == 404  # a job without a file is never served


def test_admin_excel_export_of_a_large_selection_keeps_the_selection(
    client, staff, call, danang, settings, django_capture_on_commit_callbacks
):
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

    settings.EXPORT_BACKGROUND_ROWS = 2
    created = Proposal.objects.bulk_create(
        Proposal(call=call, city=danang, title=f"P{n}") for n in range(6)
    )
    chosen = [p.pk for p in created[:3]]
    client.force_login(staff)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:proposals_proposal_changelist"),
            {"action": "export_xlsx_selected", ACTION_CHECKBOX_NAME: chosen},
        )
    job = ExportJob.objects.get()
    (_header, *rows), _sheet = read_xlsx(
        client.get(reverse("staff_export_job_download", args=[job.code]))
    )
    assert sorted(row[1] for row in rows) == ["P0", "P1", "P2"]


def test_a_running_export_whose_worker_died_is_taken_again(staff, call, danang):
    from proposals import exports

    Proposal.objects.create(call=call, city=danang, title="Only")
    job = ExportJob.objects.create(
        requested_by=staff, state="running", started_at=timezone.now(), expires_at=timezone.now()
    )
    assert exports.build(job.pk) == "skipped"
    ExportJob.objects.filter(pk=job.pk).update(
        started_at=timezone.now() - datetime.timedelta(hours=1)
    )
    assert exports.build(job.pk) == "done"
    job.refresh_from_db()
    assert job.expires_at > job.finished_at + datetime.timedelta(hours=23)


def test_date_filters_count_japanese_days_wherever_they_run(staff, call, danang):
    from django.utils import timezone as tz

    from proposals.filters import filtered_proposals

    proposal = Proposal.objects.create(call=call, city=danang, title="Late at night")
    Proposal.objects.filter(pk=proposal.pk).update(
        submitted_at=datetime.datetime(2027, 2, 9, 16, 0, tzinfo=datetime.UTC)
    )
    with tz.override(datetime.UTC):
        _f, found = filtered_proposals({"submitted_from": "2027-02-10"})
        assert list(found) == [proposal]
        _f, found = filtered_proposals({"submitted_to": "2027-02-09"})
        assert list(found) == []


def test_an_absurd_fiscal_year_is_refused_not_a_crash(client, staff):
    client.force_login(staff)
    response = client.get(reverse("staff_dashboard"), {"fiscal_year": "99999"})
    assert response.status_code == 200
    assert response.context["filter"].form.errors["fiscal_year"] == [
        "Ensure this value is less than or equal to 2100."
    ]
    # An export of the same (matching nothing) is its header alone.
    export = client.get(reverse("staff_export_proposals", args=["csv"]), {"fiscal_year": "99999"})
    assert read_csv(export) == [EXPECTED_HEADER]


def test_cached_dashboard_follows_reference_data_changes(
    client, staff, call, danang, danang_lead, django_capture_on_commit_callbacks
):
    from proposals.models import Sector

    client.force_login(staff)
    make_proposal(call, danang, danang_lead)
    assert "Đà Nẵng" not in client.get(reverse("staff_dashboard")).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        danang.name = "Đà Nẵng"
        danang.save()
        Sector.objects.create(code="space", name="Space elevators")
    page = client.get(reverse("staff_dashboard")).content.decode()
    assert "Đà Nẵng" in page  # the table's city column
    assert "Space elevators" in page  # the filter's list of sectors


def test_cached_dashboard_holds_nothing_of_the_reader(client, staff, call, danang, danang_lead):
    client.force_login(staff)
    make_proposal(call, danang, danang_lead)
    page = client.get(reverse("staff_dashboard")).content.decode()
    assert "csrfmiddlewaretoken" in page  # the layout's sign-out form, outside the cached part
    body = page.split("</h1>", 1)[1].split("</main>", 1)[0]
    assert "csrfmiddlewaretoken" not in body
    assert staff.get_short_name() not in body
