"""Issue 19, item 3: what each score means, per criterion of a call's rubric, set by staff
with the rubric in the admin and shown to reviewers beside each score's radio button (as its
accessible description) and in the confirmation before a review is locked."""

import re

import pytest
from django.urls import reverse

from proposals import services
from proposals.models import RubricCriterion

from ..factories import make_proposal, under_review

pytestmark = pytest.mark.django_db

RELEVANCE = {
    "descriptor_1": "The problem is not described.",
    "descriptor_3": "Described, with some evidence.",
    "descriptor_5": "Measured, its causes shown.",
}


@pytest.fixture
def accepted(client, call, danang, danang_lead, staff, reviewer):
    first = call.criteria.order_by("position", "pk").first()
    RubricCriterion.objects.filter(pk=first.pk).update(**RELEVANCE)
    proposal = under_review(
        make_proposal(call, danang, danang_lead, title="Mine"), lead=danang_lead, staff=staff
    )
    (assignment,), _skipped = services.assign_reviewers(
        actor=staff, proposals=[proposal], reviewers=[reviewer], due=call.closes_at.date()
    )
    services.declare_conflict(reviewer=reviewer, assignment=assignment, conflict=False)
    client.force_login(reviewer)
    return assignment


def url(assignment):
    return reverse("admin:proposals_reviewassignment_review", args=[assignment.pk])


def test_each_score_shows_what_it_means_as_the_radios_description(client, accepted):
    first, second = accepted.proposal.call.criteria.order_by("position", "pk")
    page = client.get(url(accepted)).content.decode()
    for value, key in ((1, "descriptor_1"), (3, "descriptor_3"), (5, "descriptor_5")):
        radio = f"id_score_{first.pk}_{value}"
        assert re.search(rf'<input [^>]*id="{radio}"[^>]* aria-describedby="{radio}_means">', page)
        assert f'<span class="score-means" id="{radio}_means">{RELEVANCE[key]}</span>' in page
    # Scores without a meaning, and the other criterion (none written), have no description.
    assert f'aria-describedby="id_score_{first.pk}_2_means"' not in page
    assert f"id_score_{second.pk}_1_means" not in page


def test_the_confirmation_repeats_what_the_chosen_score_means(client, accepted):
    first, second = accepted.proposal.call.criteria.order_by("position", "pk")
    data = {f"score_{first.pk}": "5", f"score_{second.pk}": "2", "recommendation": "fund"}
    page = client.post(url(accepted), data | {"submit": "1"}).content.decode()
    assert "Submit this review?" in page
    assert '5 <span class="score-means">Measured, its causes shown.</span>' in page


def test_a_meaning_is_escaped(client, accepted):
    first = accepted.proposal.call.criteria.order_by("position", "pk").first()
    RubricCriterion.objects.filter(pk=first.pk).update(descriptor_2="<b>bold</b> & more")
    page = client.get(url(accepted)).content.decode()
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; more" in page and "<b>bold</b>" not in page


def test_staff_write_the_meanings_with_the_rubric(client, staff, call):
    client.force_login(staff)
    change = reverse("admin:proposals_call_change", args=[call.pk])
    page = client.get(change).content.decode()
    assert "What each score means" in page
    assert 'name="criteria-0-descriptor_5"' in page and "5 means" in page
    # The call's form posted back with one meaning added to its first criterion.
    form = client.get(change).context["adminform"].form
    data = {
        name: form.initial.get(name) or ""
        for name in ("title", "stage", "description", "max_request_jpy", "envelope_jpy")
    }
    data.update(
        {
            "max_proposals_per_city": call.max_proposals_per_city,
            "score_aggregation": call.score_aggregation,
            "opens_at": call.opens_at.strftime("%Y-%m-%dT%H:%M:%S"),
            "closes_at": call.closes_at.strftime("%Y-%m-%dT%H:%M:%S"),
            "eligible_countries": list(call.eligible_countries.values_list("pk", flat=True)),
            "is_published": "on",
            "reminder_days": "[14, 7, 1]",
            "extensions-TOTAL_FORMS": "0",
            "extensions-INITIAL_FORMS": "0",
        }
    )
    criteria = list(call.criteria.order_by("position", "pk"))
    data.update({"criteria-TOTAL_FORMS": len(criteria), "criteria-INITIAL_FORMS": len(criteria)})
    for n, criterion in enumerate(criteria):
        data.update(
            {
                f"criteria-{n}-id": criterion.pk,
                f"criteria-{n}-call": call.pk,
                f"criteria-{n}-position": criterion.position,
                f"criteria-{n}-name": criterion.name,
                f"criteria-{n}-weight": criterion.weight,
            }
        )
    data["criteria-0-descriptor_4"] = "Sound, its main risks addressed."
    saved = client.post(change, data)
    assert saved.status_code == 302, saved.context["adminform"].form.errors
    first = call.criteria.order_by("position", "pk").first()
    assert first.meaning(4) == "Sound, its main risks addressed."
    assert first.meaning(1) == "" and first.meaning(None) == ""
