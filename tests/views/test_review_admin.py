import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from proposals import services
from proposals.admin.proposals import ProposalAdmin
from proposals.models import AssignmentState, Proposal, ReviewAssignment, Status
from smartjamp import cache_versions

from ..conftest import in_group
from ..factories import UserFactory, make_call, make_proposal, review, under_review

pytestmark = pytest.mark.django_db


@pytest.fixture
def mine(call, danang, danang_lead, staff, reviewer):
    """A proposal under review assigned to reviewer1, who has not declared yet."""
    proposal = under_review(
        make_proposal(call, danang, danang_lead, title="Mine"), lead=danang_lead, staff=staff
    )
    services.assign_reviewers(
        actor=staff, proposals=[proposal], reviewers=[reviewer], due=call.closes_at.date()
    )
    return proposal


@pytest.fixture
def theirs(call, cebu, cebu_lead, staff, reviewer2):
    """A proposal under review assigned only to reviewer2, with reviewer2's review."""
    proposal = under_review(
        make_proposal(call, cebu, cebu_lead, title="Not yours"), lead=cebu_lead, staff=staff
    )
    review(proposal, reviewer2, [2, 3], staff=staff)
    return proposal


def review_url(assignment, name="review", *extra):
    return reverse(f"admin:proposals_reviewassignment_{name}", args=[assignment.pk, *extra])


def test_reviewer_reaches_no_unassigned_proposal_anywhere_in_the_admin(
    client, reviewer, mine, theirs
):
    client.force_login(reviewer)
    own = mine.assignments.get()
    other = theirs.assignments.get()
    attachment = theirs.attachments.get()
    forbidden = [
        reverse("admin:proposals_proposal_changelist"),
        reverse("admin:proposals_proposal_changelist") + "?q=Not+yours",
        reverse("admin:proposals_proposal_change", args=[theirs.pk]),
        reverse("admin:proposals_proposal_change", args=[mine.pk]),
        reverse("admin:proposals_proposal_history", args=[theirs.pk]),
        reverse("admin:proposals_proposal_screening", args=[theirs.pk]),
        reverse("admin:proposals_proposal_decision", args=[theirs.pk]),
        reverse("admin:proposals_proposal_evaluation", args=[theirs.pk]),
        reverse("admin:proposals_proposal_consensus", args=[theirs.pk]),
        reverse("admin:proposals_proposal_consensus", args=[mine.pk]),
        reverse("admin:proposals_proposal_evaluation", args=[mine.pk]),
        reverse("admin:proposals_proposal_versions", args=[theirs.pk]),
        reverse("admin:proposals_call_ranking", args=[theirs.call_id]),
        reverse("admin:proposals_city_changelist"),
        reverse("admin:proposals_city_change", args=[theirs.city_id]),
        reverse("admin:proposals_auditevent_changelist"),
        reverse("admin:autocomplete")
        + "?app_label=proposals&model_name=membership&field_name=user&term=a",
    ]
    for url in forbidden:
        assert client.get(url).status_code in (403, 404), url
    hidden = [
        review_url(other),
        review_url(other, "attachment", attachment.code),
        review_url(own, "attachment", attachment.code),
        reverse("proposal_detail", args=[theirs.code]),
        reverse("proposal_attachment", args=[theirs.code, attachment.code]),
    ]
    for url in hidden:
        assert client.get(url).status_code == 404, url
    # Their own change list and search show only their own assignment.
    listing = client.get(reverse("admin:proposals_reviewassignment_changelist"), {"q": "Not yours"})
    assert list(listing.context["cl"].result_list) == []
    listing = client.get(reverse("admin:proposals_reviewassignment_changelist"))
    assert list(listing.context["cl"].result_list) == [own]
    # Another reviewer's assignment pages lead nowhere.
    change = client.get(reverse("admin:proposals_reviewassignment_change", args=[other.pk]))
    assert change["Location"] == review_url(other)
    history = client.get(reverse("admin:proposals_reviewassignment_history", args=[other.pk]))
    assert history.status_code == 302 and "Not yours" not in history.content.decode()


def test_reviewer_reads_the_proposal_only_after_declaring(client, reviewer, mine):
    client.force_login(reviewer)
    own = mine.assignments.get()
    attachment = mine.attachments.get()
    page = client.get(review_url(own)).content.decode()
    assert "First: any conflict of interest?" in page
    assert mine.problem not in page
    assert client.get(review_url(own, "attachment", attachment.code)).status_code == 404

    client.post(review_url(own), {"conflict": "no", "reason": ""})
    page = client.get(review_url(own)).content.decode()
    assert mine.problem in page
    download = client.get(review_url(own, "attachment", attachment.code))
    assert download.status_code == 200 and download["Content-Disposition"].startswith("attachment")


def test_conflict_declines_and_tells_staff(client, reviewer, mine):
    client.force_login(reviewer)
    own = mine.assignments.get()
    missing = client.post(review_url(own), {"conflict": "yes", "reason": ""})
    assert missing.context["conflict_form"].errors == {
        "reason": ["Please describe the conflict of interest."]
    }
    client.post(review_url(own), {"conflict": "yes", "reason": "I advised the city in 2025."})
    own.refresh_from_db()
    assert (own.state, own.conflict_reason) == (
        AssignmentState.DECLINED,
        "I advised the city in 2025.",
    )
    assert mine.problem not in client.get(review_url(own)).content.decode()


def scores_post(proposal, values, **extra):
    criteria = list(proposal.call.criteria.values_list("pk", flat=True))
    data = {f"score_{pk}": str(v) for pk, v in zip(criteria, values, strict=True)}
    data.update({"comment": "Good", "recommendation": "fund"})
    data.update(extra)
    return data


def test_reviewer_scores_and_submits_then_sees_colleagues(client, reviewer, reviewer2, staff, mine):
    review(mine, reviewer2, [1, 1], staff=staff)
    client.force_login(reviewer)
    own = mine.assignments.get(reviewer=reviewer)
    client.post(review_url(own), {"conflict": "no"})
    page = client.get(review_url(own)).content.decode()
    assert "Your colleagues&#x27; reviews" not in page and "Colleague 1" not in page

    client.post(review_url(own), scores_post(mine, [4, 5], save="1"))
    own.refresh_from_db()
    assert own.state == AssignmentState.ACCEPTED
    assert sorted(own.review.scores.values_list("value", flat=True)) == [4, 5]

    # Issue 18: "Submit" shows the confirmation first and stores nothing ...
    page = client.post(review_url(own), scores_post(mine, [5, 5], submit="1")).content.decode()
    assert "Submit this review?" in page and 'name="confirm"' in page
    own.refresh_from_db()
    assert own.state == AssignmentState.ACCEPTED
    assert sorted(own.review.scores.values_list("value", flat=True)) == [4, 5]
    assert "Colleague 1" not in page
    # ... its own button submits and locks it.
    client.post(review_url(own), scores_post(mine, [5, 5], submit="1", confirm="Submit"))
    own.refresh_from_db()
    assert own.state == AssignmentState.SUBMITTED
    page = client.get(review_url(own)).content.decode()
    assert "Colleague 1" in page and "1.00" in page
    assert "reviewer2@example.org" not in page
    # Locked: a later post changes nothing, confirmed or not.
    client.post(review_url(own), scores_post(mine, [1, 1], submit="1"))
    client.post(review_url(own), scores_post(mine, [1, 1], submit="1", confirm="Submit"))
    assert sorted(own.review.scores.values_list("value", flat=True)) == [5, 5]


def test_forged_and_out_of_range_posts_change_nothing(
    client, reviewer, reviewer2, staff, mine, theirs
):
    client.force_login(reviewer)
    own = mine.assignments.get()
    client.post(review_url(own), {"conflict": "no"})
    client.post(review_url(own), scores_post(mine, [7, 3], save="1"))
    client.post(
        review_url(own),
        scores_post(mine, [4, 4], save="1", reviewer=reviewer2.pk, state="submitted"),
    )
    own.refresh_from_db()
    assert (own.reviewer, own.state) == (reviewer, AssignmentState.ACCEPTED)
    assert sorted(own.review.scores.values_list("value", flat=True)) == [4, 4]
    other = theirs.assignments.get()
    response = client.post(review_url(other), scores_post(theirs, [5, 5], submit="1"))
    assert response.status_code == 404
    assert sorted(other.review.scores.values_list("value", flat=True)) == [2, 3]


@pytest.fixture
def submitted(call, danang, danang_lead):
    return services.submit_proposal(
        user=danang_lead, proposal=make_proposal(call, danang, danang_lead)
    )


def test_staff_workflow_pages(client, staff, reviewer, submitted):
    client.force_login(staff)
    screening = reverse("admin:proposals_proposal_screening", args=[submitted.pk])
    client.post(screening, {"step": "screen"})
    submitted.refresh_from_db()
    assert submitted.status == Status.SCREENING
    response = client.post(screening, {"step": "send"}, follow=True)
    assert (
        "Every item of the eligibility checklist must be ticked first." in response.content.decode()
    )
    checks = {key: "on" for key in ("applicant", "scope", "amount", "documents", "partners")}
    client.post(screening, {"step": "checklist", **checks})
    client.post(screening, {"step": "send"})
    submitted.refresh_from_db()
    assert submitted.status == Status.UNDER_REVIEW

    changelist = reverse("admin:proposals_proposal_changelist")
    form = client.post(
        changelist, {"action": "assign_selected", ACTION_CHECKBOX_NAME: [submitted.pk]}
    )
    assert form.status_code == 200 and "Reviewers" in form.content.decode()
    client.post(
        changelist,
        {
            "action": "assign_selected",
            ACTION_CHECKBOX_NAME: [submitted.pk],
            "apply": "1",
            "reviewers": [reviewer.pk],
            "due": "2030-01-31",
        },
    )
    assignment = ReviewAssignment.objects.get(proposal=submitted)
    assert (assignment.reviewer, str(assignment.due)) == (reviewer, "2030-01-31")

    review(submitted, reviewer, [4, 3], staff=staff)
    change = client.get(reverse("admin:proposals_proposal_change", args=[submitted.pk]))
    change = " ".join(change.content.decode().split())
    assert '<td class="field-weighted"> <p>3.60</p> </td>' in change  # the stored score
    decision = reverse("admin:proposals_proposal_decision", args=[submitted.pk])
    page = client.get(decision).content.decode()
    assert "Score 3.60 (Mean of 1 reviews)" in " ".join(page.split())
    client.post(decision, {"step": "shortlist"})
    too_much = client.post(decision, {"step": "approve", "amount": "40000001", "letter": "Yes"})
    assert too_much.context["approval"].errors == {"amount": ["At most the requested ¥40,000,000."]}
    client.post(decision, {"step": "approve", "amount": "35000000", "letter": "Congratulations."})
    submitted.refresh_from_db()
    assert (submitted.status, submitted.approved_jpy) == (Status.APPROVED, 35_000_000)


def test_city_sees_the_letter_but_no_reviewer_or_score(
    client, staff, reviewer, submitted, danang_lead
):
    services.screen_proposal(actor=staff, proposal=submitted)
    services.record_eligibility(
        actor=staff,
        proposal=submitted,
        checks=dict.fromkeys(("applicant", "scope", "amount", "documents", "partners"), True),
    )
    services.send_to_review(actor=staff, proposal=submitted)
    review(submitted, reviewer, [5, 4], staff=staff, recommendation="fund")
    services.shortlist_proposal(actor=staff, proposal=submitted, note="Top three")
    services.approve_proposal(
        actor=staff, proposal=submitted, amount=30_000_000, letter="You are selected."
    )
    client.force_login(danang_lead)
    page = client.get(reverse("proposal_detail", args=[submitted.code])).content.decode()
    assert "You are selected." in page and "¥30,000,000" in page
    for secret in (
        reviewer.email,
        reviewer.full_name,
        "Solid.",
        "Top three",
        "4.60",
        "Fund",
        "Shortlisted",
    ):
        assert secret not in page, secret


def test_versions_and_ranking_pages(client, staff, reviewer, submitted, danang_lead):
    services.screen_proposal(actor=staff, proposal=submitted)
    services.request_revision(
        actor=staff, proposal=submitted, message="More detail", due=submitted.call.closes_at
    )
    submitted.refresh_from_db()
    services.save_draft(
        user=danang_lead,
        proposal=submitted,
        base_version=submitted.version,
        values={"title": "Sharper title"},
        focus_areas=submitted.focus_areas.all(),
        sectors=submitted.sectors.all(),
        partners=list(submitted.partners.values("name", "kind", "role")),
    )
    services.submit_proposal(user=danang_lead, proposal=submitted)
    client.force_login(staff)
    page = client.get(
        reverse("admin:proposals_proposal_versions", args=[submitted.pk])
    ).content.decode()
    assert "<td>title</td><td>Flood early warning</td><td>Sharper title</td>" in page
    ranking = client.get(reverse("admin:proposals_call_ranking", args=[submitted.call_id]))
    assert ranking.status_code == 200


def _populate(call, count, reviewers, staff, *, start=0):
    from proposals.models import City

    from ..conftest import member

    for n in range(start, start + count):
        city = City.objects.create(
            country_id="TH",
            name=f"City {n}",
            verification_status="verified",
            time_zone="Asia/Bangkok",
        )
        lead = member(city, f"lead{n}@example.org", f"Lead {n}", "lead")
        proposal = under_review(
            make_proposal(call, city, lead, title=f"P{n}"), lead=lead, staff=staff
        )
        for reviewer in reviewers:
            review(proposal, reviewer, [3, 4], staff=staff)


def _own_queries(client, url) -> int:
    """The page's queries, without those of the shared cache (a database table on SQLite)."""
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return sum(
        "smartjamp_cache" not in q["sql"] and "SAVEPOINT" not in q["sql"]
        for q in captured.captured_queries
    )


@pytest.mark.parametrize("who", ["staff", "reviewer"])
def test_admin_change_lists_do_not_grow_with_rows(
    client, reference_data, staff, reviewer, reviewer2, who
):
    """Built afresh (after a change) and with its rows from the cache: the same queries with
    2 and with 30 proposals."""
    third = in_group(UserFactory(email="reviewer3@example.org", is_staff=True), "MLIT reviewers")
    reviewers = [reviewer, reviewer2, third]
    call = make_call()
    _populate(call, 2, reviewers, staff)
    client.force_login(staff if who == "staff" else reviewer)
    urls = [reverse("admin:proposals_reviewassignment_changelist")]
    if who == "staff":
        urls.append(reverse("admin:proposals_proposal_changelist"))
    for url in urls:
        client.get(url)

    def counts():
        cache_versions.bump(cache_versions.REPORTS)  # as any change of a proposal does
        return {url: (_own_queries(client, url), _own_queries(client, url)) for url in urls}

    before = counts()
    _populate(call, 28, reviewers, staff, start=2)
    assert counts() == before
    if who == "staff":
        fresh, cached = before[reverse("admin:proposals_proposal_changelist")]
        assert fresh == cached + 1  # the page's scores, read only to render its rows


def _rows(response) -> list[str]:
    page = response.content.decode()
    body = page[page.index("<tbody>", page.index('id="result_list"')) :]
    return re.findall(r"<tr>(.*?)</tr>", body, re.S)


def test_admin_rows_show_each_change_at_once(client, reference_data, staff, reviewer, reviewer2):
    _populate(make_call(), 3, [reviewer, reviewer2], staff)
    client.force_login(staff)
    proposals = reverse("admin:proposals_proposal_changelist")
    assignments = reverse("admin:proposals_reviewassignment_changelist")
    assert len(_rows(client.get(proposals))) == 3

    proposal = Proposal.objects.order_by("pk").first()
    proposal.title = "Renamed by staff"
    proposal.save()
    assert any("Renamed by staff" in row for row in _rows(client.get(proposals)))

    client.get(assignments)
    reviewer.full_name = "Hiroshi Satō"
    reviewer.save()
    assert any("Hiroshi Satō" in row for row in _rows(client.get(assignments)))

    # A reviewer sees their own list, never staff's.
    other = Client()
    other.force_login(reviewer2)
    mine = _rows(other.get(assignments))
    assert mine and not any("Hiroshi" in row for row in mine)


def test_admin_rows_follow_a_submitted_review(
    client, reference_data, staff, reviewer, danang, danang_lead
):
    proposal = under_review(
        make_proposal(make_call(), danang, danang_lead), lead=danang_lead, staff=staff
    )
    client.force_login(staff)
    url = reverse("admin:proposals_proposal_changelist")
    assert "0 / 0" in _rows(client.get(url))[0]
    review(proposal, reviewer, [4, 4], staff=staff)
    assert "1 / 1" in _rows(client.get(url))[0]


def _cells(response, column) -> list[str]:
    return re.findall(
        rf'<td data-label="[^"]*" class="field-{column}[^"]*">(.*?)</td>',
        response.content.decode(),
        re.S,
    )


def test_proposal_rows_follow_what_they_show(
    client, reference_data, staff, reviewer, reviewer2, danang, danang_lead
):
    """The list's rows are cached: each thing they show, changed, is seen at once."""
    call = make_call(title="Smart mobility")
    proposal = under_review(make_proposal(call, danang, danang_lead), lead=danang_lead, staff=staff)
    review(proposal, reviewer, [5, 5], staff=staff)
    client.force_login(staff)
    url = reverse("admin:proposals_proposal_changelist")
    assert _cells(client.get(url), "call") == ["Smart mobility"]
    assert _cells(client.get(url), "combined_score") == ["5.00"]

    call.title = "Smart mobility 2027"
    call.save()
    assert _cells(client.get(url), "call") == ["Smart mobility 2027"]

    danang.name = "Đà Nẵng"
    danang.save()
    assert _cells(client.get(url), "city") == ["Đà Nẵng (VN)"]

    services.assign_reviewers(
        actor=staff, proposals=[proposal], reviewers=[reviewer2], due=call.closes_at.date()
    )
    assert _cells(client.get(url), "reviews") == ["1 / 2"]

    review(proposal, reviewer2, [1, 1], staff=staff)
    third = in_group(UserFactory(email="r3@example.org", is_staff=True), "MLIT reviewers")
    review(proposal, third, [2, 2], staff=staff)
    assert _cells(client.get(url), "combined_score") == ["2.67"]
    call.score_aggregation = "median"
    call.save()
    assert _cells(client.get(url), "combined_score") == ["2.00"]


def test_my_assignments_rows_follow_what_they_show(client, reviewer, staff, mine, danang):
    """A reviewer's rows are cached: their proposal, its city and the assignment itself,
    changed, are seen at once."""
    client.force_login(reviewer)
    url = reverse("admin:proposals_reviewassignment_changelist")
    assert _cells(client.get(url), "proposal_title") == ["Mine"]
    assert _cells(client.get(url), "state") == ["Conflict of interest not declared yet"]

    mine.title = "Mine, renamed"
    mine.save()
    assert _cells(client.get(url), "proposal_title") == ["Mine, renamed"]
    danang.name = "Đà Nẵng"
    danang.save()
    assert _cells(client.get(url), "city") == ["Đà Nẵng (VN)"]
    assignment = mine.assignments.get()
    services.declare_conflict(reviewer=reviewer, assignment=assignment, conflict=False)
    assert _cells(client.get(url), "state") == ["Reviewing"]
    assignment.due = assignment.due.replace(year=2031, month=3, day=2)
    assignment.save()
    assert _cells(client.get(url), "due_on") == ["2 Mar 2031"]


def test_proposal_list_sorts_by_score(client, reference_data, staff, reviewer, reviewer2):
    _populate(make_call(), 3, [], staff)
    for proposal, value in zip(Proposal.objects.order_by("pk"), [3, 5, 1], strict=True):
        review(proposal, reviewer, [value, value], staff=staff)
    client.force_login(staff)
    url = reverse("admin:proposals_proposal_changelist")
    column = ProposalAdmin.list_display.index("combined_score") + 1  # after the checkbox
    assert _cells(client.get(url, {"o": column}), "combined_score") == ["1.00", "3.00", "5.00"]
    assert _cells(client.get(url, {"o": -column}), "combined_score") == ["5.00", "3.00", "1.00"]
    reviews = ProposalAdmin.list_display.index("reviews") + 1
    assert _cells(client.get(url, {"o": f"-{reviews}.{column}"}), "reviews") == ["1 / 1"] * 3


def test_proposal_list_checkbox_is_djangos(client, reference_data, staff, danang, danang_lead):
    """admin/base.py writes the selection checkbox itself: the same as Django's."""
    from django.contrib import admin
    from django.test.html import parse_html

    proposal = make_proposal(make_call(), danang, danang_lead, title='Drains <b>"A&B"</b>')
    client.force_login(staff)
    page = client.get(reverse("admin:proposals_proposal_changelist")).content.decode()
    ours = re.findall(r'<input type="checkbox" name="_selected_action"[^>]*>', page)
    djangos = admin.ModelAdmin.action_checkbox(admin.site._registry[Proposal], proposal)
    assert [parse_html(tag) for tag in ours] == [parse_html(djangos)]


def test_review_page_shows_each_change_at_once(client, reviewer, reviewer2, staff, mine):
    own = review(mine, reviewer, [4, 5], staff=staff)
    client.force_login(reviewer)
    page = client.get(review_url(own)).content.decode()
    assert "No colleague has submitted a review yet." in page
    sector = mine.sectors.get()
    assert sector.name in page

    review(mine, reviewer2, [1, 1], staff=staff)
    page = client.get(review_url(own)).content.decode()
    assert "Colleague 1" in page and "1.00" in page

    sector.name = "Disaster risk and resilience"
    sector.save()
    assert "Disaster risk and resilience" in client.get(review_url(own)).content.decode()


def test_cached_admin_rows_follow_the_readers_own_row(client, reviewer, reviewer2, staff, mine):
    url = reverse("admin:proposals_reviewassignment_changelist")
    client.force_login(reviewer)
    assert "Hiroshi Sato" not in "".join(_rows(client.get(url)))  # their own list: no names
    reviewer.is_superuser = True  # now they read every assignment, with the reviewers' names
    reviewer.save()
    client.force_login(reviewer)
    assert "Hiroshi Sato" in "".join(_rows(client.get(url)))


def test_review_page_score_radios_are_djangos(client, reviewer, staff, mine):
    """review.html writes each score's radio button itself: the same as Django's widget."""
    from django.test.html import parse_html

    own = review(mine, reviewer, [4, 2], staff=staff, submit=False)
    client.force_login(reviewer)
    response = client.get(review_url(own))
    page = response.content.decode()
    ours = re.findall(r'<input type="radio"[^>]*>', page)
    form = response.context["review_form"]
    djangos = [
        str(choice.tag())
        for field in form.score_fields()
        for choice in field
        if choice.data["value"] != ""
    ]
    assert len(ours) == len(djangos) == 10
    assert [parse_html(tag) for tag in ours] == [parse_html(tag) for tag in djangos]
    assert sum("checked" in tag for tag in ours) == 2  # the draft's two scores
