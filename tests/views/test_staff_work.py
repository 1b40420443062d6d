"""Issue 18, item 7: staff pages that lead to the work (dashboard links and amounts, columns
typed as a list, export file names, the cities list's applications, the screening and
decision pages, assigning reviewers)."""

import csv
import datetime
import io

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from proposals import services
from proposals.fiscal import jst_today
from proposals.models import AuditEvent, City, ExportJob, Status

from ..factories import make_city, make_proposal, review, under_review

pytestmark = pytest.mark.django_db


def read_csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(body.removeprefix("\ufeff"))))


@pytest.fixture
def reviewing(call, danang, danang_lead, staff, reviewer, reviewer2):
    """Da Nang's proposal under review: reviewer 1 has submitted (5, 4: "Solid."), reviewer 2
    is assigned and has not reviewed yet."""
    proposal = under_review(make_proposal(call, danang, danang_lead), lead=danang_lead, staff=staff)
    review(proposal, reviewer, [5, 4], staff=staff)
    services.assign_reviewers(
        actor=staff,
        proposals=[proposal],
        reviewers=[reviewer2],
        due=jst_today() + datetime.timedelta(days=7),
    )
    proposal.refresh_from_db()
    return proposal


# The dashboard -----------------------------------------------------------------------------


def test_dashboard_rows_link_to_the_proposal_and_show_yen(client, staff, reviewing):
    client.force_login(staff)
    page = client.get(reverse("staff_dashboard")).content.decode()
    change = reverse("admin:proposals_proposal_change", args=[reviewing.pk])
    assert f'<a href="{change}">{reviewing.reference_code}</a>' in page
    assert "¥40,000,000" in page
    assert ">40000000<" not in page
    # Each value is labelled for the cards of a phone.
    assert 'data-label="Requested (JPY)"' in page


def test_dashboard_envelope_bar_has_a_legend(client, staff, reviewing):
    client.force_login(staff)
    page = client.get(reverse("staff_dashboard")).content.decode()
    legend = page[page.index('class="chart-legend') :]
    legend = legend[: legend.index("</ul>")]
    envelope = f"¥{reviewing.call.envelope_jpy:,}"
    assert "Approved: ¥0" in legend and "Requested: ¥40,000,000" in legend
    assert f"Envelope: {envelope}" in legend


# Columns typed as a list -------------------------------------------------------------------


def test_columns_as_a_comma_separated_list_or_repeated(client, staff, reviewing):
    client.force_login(staff)
    url = reverse("staff_export_proposals", args=["csv"])
    typed = read_csv(client.get(f"{url}?columns=title,country"))
    repeated = read_csv(client.get(url, {"columns": ["title", "country"]}))
    assert typed == repeated == [["Title", "Country"], [reviewing.title, "Viet Nam"]]


def test_an_unknown_column_is_refused_and_nothing_is_recorded(client, staff, reviewing):
    client.force_login(staff)
    for fmt in ("csv", "xlsx"):
        url = reverse("staff_export_proposals", args=[fmt])
        response = client.get(f"{url}?columns=title,colour")
        assert response.status_code == 400
        assert "Unknown column(s): colour." in response.content.decode()
    assert not AuditEvent.objects.filter(action__startswith="export.").exists()
    assert not ExportJob.objects.exists()


# Export file names -------------------------------------------------------------------------


def test_the_two_rankings_download_under_names_that_say_what_they_hold(client, staff, reviewing):
    client.force_login(staff)
    url = reverse("staff_export_ranking", args=[reviewing.call.code, "csv"])
    code = reviewing.call.code
    by_score = client.get(url)["Content-Disposition"]
    by_normalised = client.get(url, {"by": "normalised"})["Content-Disposition"]
    assert by_score.startswith(f'attachment; filename="smartjamp-ranking-{code}-2')
    assert by_normalised.startswith(f'attachment; filename="smartjamp-ranking-{code}-normalised-')
    assert by_score.endswith('.csv"') and by_normalised.endswith('.csv"')


def test_a_ranking_by_anything_else_is_refused(client, staff, reviewing):
    client.force_login(staff)
    url = reverse("staff_export_ranking", args=[reviewing.call.code, "csv"])
    response = client.get(url, {"by": "colour"})
    assert response.status_code == 400
    assert "by=normalised" in response.content.decode()
    assert not AuditEvent.objects.filter(action__startswith="export.").exists()


def test_the_admin_ranking_offers_its_own_order_and_scrolls_in_its_container(
    client, staff, reviewing
):
    client.force_login(staff)
    url = reverse("admin:proposals_call_ranking", args=[reviewing.call_id])
    page = client.get(url, {"by": "normalised"}).content.decode()
    export = reverse("staff_export_ranking", args=[reviewing.call.code, "csv"])
    assert f'href="{export}?by=normalised"' in page
    assert '<div class="scroll-table"' in page and "admin-staff.css" in page
    # Each cell names its column, for the cards of a phone.
    assert (
        f'<td data-label="Reference"><a href="{reverse("admin:proposals_proposal_decision", args=[reviewing.pk])}">'
        in page
    )


def test_change_list_cells_name_their_column_for_the_cards_of_a_phone(client, staff, reviewing):
    client.force_login(staff)
    page = client.get(reverse("admin:proposals_proposal_changelist")).content.decode()
    assert f'<td data-label="Title" class="field-title">{reviewing.title}</td>' in page
    assert '<td data-label="" class="action-checkbox">' in page  # no label for the checkbox
    assert "&lt;td" not in page


# The cities list ---------------------------------------------------------------------------


def test_cities_list_shows_applications_by_default(client, staff, danang):
    hue = make_city("Huế", "VN")  # registered, pending
    client.force_login(staff)
    url = reverse("admin:proposals_city_changelist")

    def names(query):
        return set(client.get(url, query).context["cl"].result_list.values_list("name", flat=True))

    assert names({}) == {"Da Nang", "Huế"}
    reference = names({"registration": "reference"})
    assert reference and not reference & {"Da Nang", "Huế"}
    assert reference == set(
        City.objects.exclude(pk__in=City.objects.claimed().values("pk")).values_list(
            "name", flat=True
        )
    )
    assert names({"registration": "all"}) == reference | {"Da Nang", "Huế"}
    # The filter says which choice is in force, applications when none is chosen.
    page = client.get(url).content.decode()
    assert 'class="selected"' in page and "Applications (registered by officials)" in page
    assert hue.registered_at is not None


# Screening ---------------------------------------------------------------------------------


def test_screening_page_shows_the_proposal(client, staff, call, danang, danang_lead):
    proposal = make_proposal(call, danang, danang_lead)
    services.submit_proposal(user=danang_lead, proposal=proposal)
    client.force_login(staff)
    page = client.get(reverse("admin:proposals_proposal_screening", args=[proposal.pk]))
    text = page.content.decode()
    assert "The proposal" in text
    for written in ("Floods.", "Sensors and alerts.", "Households warned in time", "¥80,000,000"):
        assert written in text


# Assigning reviewers -----------------------------------------------------------------------


def test_assigning_shows_each_reviewers_load_and_a_default_due_date(
    client, staff, reviewing, reviewer, reviewer2, settings
):
    settings.REVIEW_DUE_DAYS = 10
    client.force_login(staff)
    page = client.post(
        reverse("admin:proposals_proposal_changelist"),
        {"action": "assign_selected", ACTION_CHECKBOX_NAME: [reviewing.pk]},
    )
    text = page.content.decode()
    # Reviewer 1 has submitted theirs (no open load); reviewer 2's is open.
    assert f"{reviewer} · 0 reviews open" in text
    assert f"{reviewer2} · 1 review open" in text
    due = (jst_today() + datetime.timedelta(days=10)).isoformat()
    assert f'value="{due}"' in text
    auto = client.post(
        reverse("admin:proposals_proposal_changelist"),
        {"action": "auto_assign_selected", ACTION_CHECKBOX_NAME: [reviewing.pk]},
    )
    assert f'value="{due}"' in auto.content.decode()


# Decisions ---------------------------------------------------------------------------------


def test_decision_page_shows_each_reviewers_scores_comment_and_recommendation(
    client, staff, reviewing, reviewer, reviewer2
):
    client.force_login(staff)
    page = client.get(reverse("admin:proposals_proposal_decision", args=[reviewing.pk]))
    text = page.content.decode()
    rows = {row["assignment"].reviewer: row for row in page.context["reviews"]}
    assert rows[reviewer]["scores"] == [5, 4]
    assert rows[reviewer2]["scores"] == [None, None] and rows[reviewer2]["review"] is None
    assert "Relevance" in text and "Feasibility" in text
    assert "Solid." in text and "Fund" in text
    assert "1 review is still outstanding" in text


def test_shortlisting_waits_for_outstanding_reviews(client, staff, reviewing):
    client.force_login(staff)
    url = reverse("admin:proposals_proposal_decision", args=[reviewing.pk])
    refused = client.post(url, {"step": "shortlist"}, follow=True)
    assert "1 review is still outstanding: wait for it" in refused.content.decode()
    reviewing.refresh_from_db()
    assert reviewing.status == Status.UNDER_REVIEW
    assert not AuditEvent.objects.filter(action="decision.override").exists()

    client.post(url, {"step": "shortlist", "override": "1"})
    reviewing.refresh_from_db()
    assert reviewing.status == Status.SHORTLISTED
    (event,) = AuditEvent.objects.filter(action="decision.override")
    assert (event.actor, event.proposal, event.details["outstanding"]) == (staff, reviewing, 1)


def test_rejecting_waits_for_outstanding_reviews_too(client, staff, reviewing):
    client.force_login(staff)
    url = reverse("admin:proposals_proposal_decision", args=[reviewing.pk])
    page = client.post(url, {"step": "reject", "letter": "Not this year."})
    assert "1 review is still outstanding" in page.content.decode()
    # The letter typed is kept in the form, nothing is stored.
    assert "Not this year." in page.content.decode()
    reviewing.refresh_from_db()
    assert (reviewing.status, reviewing.decision_letter) == (Status.UNDER_REVIEW, "")


def test_the_shortlist_action_refuses_a_proposal_with_outstanding_reviews(client, staff, reviewing):
    client.force_login(staff)
    page = client.post(
        reverse("admin:proposals_proposal_changelist"),
        {"action": "shortlist_selected", ACTION_CHECKBOX_NAME: [reviewing.pk]},
        follow=True,
    )
    assert "1 review is still outstanding" in page.content.decode()
    reviewing.refresh_from_db()
    assert reviewing.status == Status.UNDER_REVIEW


def test_shortlisting_once_every_review_is_in_needs_no_override(
    client, staff, reviewing, reviewer2
):
    review(reviewing, reviewer2, [3, 3], staff=staff)
    client.force_login(staff)
    client.post(
        reverse("admin:proposals_proposal_decision", args=[reviewing.pk]), {"step": "shortlist"}
    )
    reviewing.refresh_from_db()
    assert reviewing.status == Status.SHORTLISTED
    assert not AuditEvent.objects.filter(action="decision.override").exists()


# Verifying a city beside its letter ----------------------------------------------------------


def test_a_pending_citys_admin_page_leads_to_verify_and_reject_beside_the_letter(
    client, staff, danang
):
    hue = make_city("Huế", "VN")
    client.force_login(staff)
    page = client.get(reverse("admin:proposals_city_change", args=[hue.pk])).content.decode()
    letter = reverse("city_letter", args=[hue.code])
    portal = reverse("city_detail", args=[hue.code])
    assert f'<a href="{letter}">letter.pdf</a> · <a href="{portal}" class="button">' in page
    # Decided: the letter alone.
    page = client.get(reverse("admin:proposals_city_change", args=[danang.pk])).content.decode()
    assert reverse("city_letter", args=[danang.code]) in page
    assert "Verify or reject on the city" not in page


def test_the_services_wait_for_outstanding_reviews_unless_overridden(staff, reviewing):
    """The rule has one home, the review services: the decision page, the list's action and
    any other caller get the same refusal, and an override is recorded."""
    from django.core.exceptions import ValidationError

    for decide in (
        lambda **extra: services.shortlist_proposal(actor=staff, proposal=reviewing, **extra),
        lambda **extra: services.reject_proposal(
            actor=staff, proposal=reviewing, letter="Not this time.", **extra
        ),
    ):
        with pytest.raises(ValidationError, match="1 review is still outstanding"):
            decide()
        reviewing.refresh_from_db()
        assert reviewing.status == Status.UNDER_REVIEW
    assert not AuditEvent.objects.filter(action="decision.override").exists()
    services.shortlist_proposal(actor=staff, proposal=reviewing, override=True)
    reviewing.refresh_from_db()
    assert reviewing.status == Status.SHORTLISTED
    override = AuditEvent.objects.get(action="decision.override")
    assert (override.actor, override.proposal, override.details["outstanding"]) == (
        staff,
        reviewing,
        1,
    )
