"""Issue 19, item 4: the consensus panel. After the individual reviews staff open a panel
for a call (members, date); for each proposal the panel sees the reviews side by side, with
the spread and the normalised score, and records an agreed score per criterion, a rationale
and a recommendation; the ranking offers the consensus score beside the others. Audited;
never shown to the city."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from proposals import scoring, services
from proposals.models import AuditEvent, PanelRecord, Status

from ..factories import make_call, make_proposal, review, under_review

pytestmark = pytest.mark.django_db

HELD_ON = datetime.date(2027, 2, 15)


@pytest.fixture
def reviewed(call, danang, danang_lead, cebu, cebu_lead, staff, reviewer, reviewer2):
    """Two proposals under review, each with two reviews that disagree."""
    proposals = []
    for city, lead, title, first, second in (
        (danang, danang_lead, "Flood sensors", [5, 5], [2, 2]),
        (cebu, cebu_lead, "Bus lanes", [4, 4], [4, 3]),
    ):
        proposal = under_review(
            make_proposal(call, city, lead, title=title), lead=lead, staff=staff
        )
        review(proposal, reviewer, first, staff=staff)
        review(proposal, reviewer2, second, staff=staff)
        proposals.append(proposal)
    return proposals


@pytest.fixture
def panel(call, staff, reviewer, reviewer2, reviewed):
    return services.open_panel(
        actor=staff, call=call, held_on=HELD_ON, members=[reviewer, reviewer2]
    )


def agree(staff, proposal, panel, values, recommendation="fund", rationale="Agreed in session."):
    criteria = list(proposal.call.criteria.order_by("position", "pk"))
    return services.record_consensus(
        actor=staff,
        proposal=proposal,
        session=panel,
        scores={c.pk: v for c, v in zip(criteria, values, strict=True)},
        rationale=rationale,
        recommendation=recommendation,
    )


def test_the_panel_records_an_agreed_score_per_criterion(staff, reviewed, panel):
    flood, _bus = reviewed
    record = agree(staff, flood, panel, [4, 3])
    criteria = {c.name: c.weight for c in flood.call.criteria.all()}
    expected = scoring.weighted_score([(criteria["Relevance"], 4), (criteria["Feasibility"], 3)])
    assert float(record.weighted_score) == pytest.approx(expected, abs=0.005)
    assert sorted(record.scores.values_list("value", flat=True)) == [3, 4]
    # Recorded again in the same panel: replaced, not added.
    agree(staff, flood, panel, [3, 3], recommendation="fund_with_changes")
    record = PanelRecord.objects.get(proposal=flood)
    assert record.recommendation == "fund_with_changes" and float(record.weighted_score) == 3.0
    assert AuditEvent.objects.filter(action="panel.consensus").count() == 2
    assert AuditEvent.objects.filter(action="panel.opened").count() == 1


def test_each_refusal(staff, reviewer, call, reviewed, panel):
    flood, _bus = reviewed
    relevance = flood.call.criteria.order_by("position", "pk").first()
    with pytest.raises(ValidationError, match="every criterion: Feasibility"):
        services.record_consensus(
            actor=staff,
            proposal=flood,
            session=panel,
            scores={relevance.pk: 4},
            rationale="Half.",
            recommendation="fund",
        )
    with pytest.raises(ValidationError, match="1 to 5"):
        agree(staff, flood, panel, [6, 3])
    with pytest.raises(ValidationError, match="rationale"):
        agree(staff, flood, panel, [4, 3], rationale="  ")
    with pytest.raises(ValidationError, match="recommendation"):
        agree(staff, flood, panel, [4, 3], recommendation="maybe")
    other = services.open_panel(
        actor=staff, call=make_call("Other"), held_on=HELD_ON, members=[reviewer]
    )
    with pytest.raises(ValidationError, match="another call"):
        agree(staff, flood, other, [4, 3])
    with pytest.raises(PermissionDenied):
        agree(reviewer, flood, panel, [4, 3])
    with pytest.raises(PermissionDenied):
        services.open_panel(actor=reviewer, call=call, held_on=HELD_ON, members=[reviewer])
    with pytest.raises(ValidationError):
        services.open_panel(actor=staff, call=call, held_on=HELD_ON, members=[])
    assert not PanelRecord.objects.exists()


def test_the_ranking_offers_the_consensus_score(client, staff, call, reviewed, panel):
    flood, bus = reviewed
    agree(staff, flood, panel, [5, 5])
    agree(staff, bus, panel, [2, 2])
    by_score = [p.title for p in scoring.call_ranking(call)]
    by_consensus = [p.title for p in scoring.call_ranking(call, by="consensus")]
    assert by_score == ["Bus lanes", "Flood sensors"]  # the reviews' mean: 3.5 for the floods
    assert by_consensus == ["Flood sensors", "Bus lanes"]  # the panel: 5.00 against 2.00
    client.force_login(staff)
    url = reverse("admin:proposals_call_ranking", args=[call.pk])
    page = client.get(url, {"by": "consensus"}).content.decode()
    assert "<strong>consensus score</strong>" in page
    assert '<td data-label="Consensus">2.00</td>' in page
    csv = client.get(reverse("staff_export_ranking", args=[call.code, "csv"]), {"by": "consensus"})
    assert f"ranking-{call.code}-consensus-" in csv["Content-Disposition"]
    body = b"".join(csv.streaming_content).decode()
    assert "Consensus" in body.splitlines()[0]


def test_staff_open_a_panel_and_record_on_the_consensus_page(
    client, staff, reviewer, reviewer2, call, reviewed
):
    flood, _bus = reviewed
    client.force_login(staff)
    ranking = reverse("admin:proposals_call_ranking", args=[call.pk])
    assert "No panel yet for this call." in client.get(ranking).content.decode()
    opened = client.post(ranking, {"held_on": "2027-02-15", "members": [reviewer.pk, reviewer2.pk]})
    assert opened.status_code == 302
    panel = call.panels.get()
    assert set(panel.members.all()) == {reviewer, reviewer2}

    url = reverse("admin:proposals_proposal_consensus", args=[flood.pk])
    page = client.get(url).content.decode()
    assert "The reviewers disagree (spread above 1.5)." in page  # 5,5 against 2,2
    assert "Each reviewer" in page and "Nothing recorded yet." in page
    criteria = list(call.criteria.order_by("position", "pk"))
    data = {
        "session": panel.pk,
        f"agreed_{criteria[0].pk}": "4",
        f"agreed_{criteria[1].pk}": "3",
        "rationale": "The evidence outweighs the second reviewer's doubts.",
        "recommendation": "fund",
    }
    assert client.post(url, data).status_code == 302
    page = client.get(url).content.decode()
    assert "The evidence outweighs the second reviewer&#x27;s doubts." in page
    # The evaluation summary is written with it in view.
    evaluation = reverse("admin:proposals_proposal_evaluation", args=[flood.pk])
    assert "The evidence outweighs" in client.get(evaluation).content.decode()
    # Missing a score: the form says so and nothing changes.
    refused = client.post(url, data | {f"agreed_{criteria[1].pk}": ""})
    assert refused.status_code == 200 and refused.context["form"].errors


def test_the_city_never_sees_the_panel(client, staff, reviewed, panel, danang_lead, reviewer):
    flood, _bus = reviewed
    agree(staff, flood, panel, [4, 3], rationale="Panel-only rationale.")
    services.shortlist_proposal(actor=staff, proposal=flood)
    services.approve_proposal(actor=staff, proposal=flood, amount=30_000_000, letter="Yes.")
    client.force_login(danang_lead)
    page = client.get(reverse("proposal_detail", args=[flood.code])).content.decode()
    assert flood.refresh_from_db() or flood.status == Status.APPROVED
    for secret in ("Panel-only rationale.", reviewer.full_name, "3.60", "consensus"):
        assert secret not in page
    assert client.get(
        reverse("admin:proposals_proposal_consensus", args=[flood.pk])
    ).status_code in (
        302,
        403,
        404,
    )
