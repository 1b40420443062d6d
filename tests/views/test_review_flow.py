"""The reviewer's review page (issue 18): a labelled conflict-of-interest box, the running
weighted total computed on the server, and the confirmation before a review is locked."""

import re

import pytest
from django.urls import reverse

from proposals import services
from proposals.models import AssignmentState, Review
from proposals.scoring import weighted_score

from ..factories import make_proposal, under_review

pytestmark = pytest.mark.django_db


@pytest.fixture
def assignment(call, danang, danang_lead, staff, reviewer):
    proposal = under_review(
        make_proposal(call, danang, danang_lead, title="Mine"), lead=danang_lead, staff=staff
    )
    (assignment,), _skipped = services.assign_reviewers(
        actor=staff, proposals=[proposal], reviewers=[reviewer], due=call.closes_at.date()
    )
    return assignment


@pytest.fixture
def accepted(client, reviewer, assignment):
    client.force_login(reviewer)
    services.declare_conflict(reviewer=reviewer, assignment=assignment, conflict=False)
    return assignment


def url(assignment):
    return reverse("admin:proposals_reviewassignment_review", args=[assignment.pk])


def criteria(assignment):
    return list(assignment.proposal.call.criteria.order_by("pk"))


def post_data(assignment, values, **extra):
    data = {f"score_{c.pk}": str(v) for c, v in zip(criteria(assignment), values, strict=True) if v}
    data.update({"comment": "Strong partners.\nA clear plan.", "recommendation": "fund"})
    data.update(extra)
    return data


def text(response):
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


def test_the_conflict_questions_are_labelled(client, reviewer, assignment):
    client.force_login(reviewer)
    page = client.get(url(assignment)).content.decode()
    assert re.search(r'<label for="id_reason">If yes: what is the conflict\?</label>', page)
    assert 'id="id_reason"' in page
    assert re.search(
        r"<fieldset[^>]*>\s*<legend>Do you have a conflict of interest with this proposal\?",
        page,
    )
    # The radios' own labels are Django's, each tied to its input.
    assert re.search(r'<label for="id_conflict_0"><input[^>]+id="id_conflict_0"', page)


def test_saving_shows_the_weighted_total_by_the_scoring_formula(client, accepted):
    rubric = criteria(accepted)
    assert len(rubric) >= 2 and len({c.weight for c in rubric}) > 1, "weights that differ"
    before = text(client.get(url(accepted)))
    assert "Weighted total: — out of 5; 0 of 2 criteria scored" in before

    response = client.post(url(accepted), post_data(accepted, [5, 3], save="1"), follow=True)
    expected = weighted_score([(rubric[0].weight, 5), (rubric[1].weight, 3)])
    assert f"Weighted total: {expected:.2f} out of 5; 2 of 2 criteria scored" in text(response)
    assert f"{expected:.2f}" != f"{(5 + 3) / 2:.2f}"  # the weights count, not a plain mean
    # One criterion scored: the total of that one.
    client.post(url(accepted), post_data(accepted, [4, None], save="1"))
    page = text(client.get(url(accepted)))
    assert "Weighted total: 4.00 out of 5; 1 of 2 criteria scored" in page
    # Each criterion's weight is on its fieldset, for the script's live total.
    html = client.get(url(accepted)).content.decode()
    for criterion in rubric:
        assert f'data-weight="{criterion.weight}"' in html


def test_submitting_asks_for_a_confirmation_and_stores_nothing(client, accepted):
    response = client.post(url(accepted), post_data(accepted, [5, 4], submit="1"))
    assert response.status_code == 200
    page = text(response)
    assert "Submit this review?" in page
    assert "Check your review: once submitted it is locked and can no longer change." in page
    assert "Fund" in page and "Strong partners." in page
    accepted.refresh_from_db()
    assert accepted.state == AssignmentState.ACCEPTED
    assert not Review.objects.filter(assignment=accepted).exists()
    # The values travel in the confirmation's hidden fields, with the final button.
    html = response.content.decode()
    rubric = criteria(accepted)
    assert f'<input type="hidden" name="score_{rubric[0].pk}" value="5"' in html
    assert 'name="confirm"' in html

    confirmed = client.post(
        url(accepted), post_data(accepted, [5, 4], submit="1", confirm="1"), follow=True
    )
    assert "Your review is submitted." in text(confirmed)
    accepted.refresh_from_db()
    assert accepted.state == AssignmentState.SUBMITTED
    assert sorted(accepted.review.scores.values_list("value", flat=True)) == [4, 5]
    assert accepted.review.comment == "Strong partners.\nA clear plan."


def test_a_draft_saved_then_submitted_unconfirmed_keeps_the_draft(client, accepted):
    client.post(url(accepted), post_data(accepted, [2, 2], save="1"))
    client.post(url(accepted), post_data(accepted, [5, 5], submit="1"))
    accepted.refresh_from_db()
    assert accepted.state == AssignmentState.ACCEPTED
    assert sorted(accepted.review.scores.values_list("value", flat=True)) == [2, 2]


def test_back_from_the_confirmation_shows_the_form_with_the_values(client, accepted):
    response = client.post(url(accepted), post_data(accepted, [5, 4], submit="1", back="1"))
    assert "Submit this review?" not in text(response)
    html = response.content.decode()
    rubric = criteria(accepted)
    assert re.search(rf'name="score_{rubric[0].pk}" value="5" id="[^"]+" checked', html)
    assert not Review.objects.filter(assignment=accepted).exists()


@pytest.mark.parametrize(
    "values, extra, message",
    [
        ([5, None], {}, "Score every criterion before submitting"),
        ([5, 4], {"recommendation": ""}, "Choose a recommendation before submitting."),
    ],
)
def test_an_incomplete_review_is_refused_before_the_confirmation(
    client, accepted, values, extra, message
):
    for confirm in ({}, {"confirm": "1"}):
        response = client.post(
            url(accepted), post_data(accepted, values, submit="1", **extra, **confirm)
        )
        page = text(response)
        assert message in page
        assert "Submit this review?" not in page
        accepted.refresh_from_db()
        assert accepted.state == AssignmentState.ACCEPTED
        assert not Review.objects.filter(assignment=accepted).exists()


def test_a_submitted_review_is_locked(client, accepted):
    client.post(url(accepted), post_data(accepted, [5, 4], submit="1", confirm="1"))
    response = client.post(url(accepted), post_data(accepted, [1, 1], submit="1", confirm="1"))
    assert "Submit this review?" not in text(response)
    accepted.refresh_from_db()
    assert sorted(accepted.review.scores.values_list("value", flat=True)) == [4, 5]


def test_every_admin_page_underlines_its_links(client, staff, accepted):
    client.force_login(staff)
    pages = [
        reverse("admin:index"),
        reverse("admin:proposals_proposal_changelist"),
        reverse("admin:proposals_reviewassignment_changelist"),
        reverse("admin:proposals_proposal_change", args=[accepted.proposal_id]),
    ]
    for page in pages:
        assert "/static/css/admin-a11y.css" in client.get(page).content.decode(), page
