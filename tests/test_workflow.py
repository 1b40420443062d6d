import datetime
import threading

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.utils import timezone

from proposals import scoring, services
from proposals.models import (
    AssignmentState,
    AuditEvent,
    Country,
    Proposal,
    ProposalSnapshot,
    Review,
    Status,
    StatusChange,
    User,
)

from .conftest import in_group
from .factories import UserFactory, make_call, make_city, make_proposal, review, under_review

pytestmark = pytest.mark.django_db

SOON = datetime.timedelta(days=10)


@pytest.fixture
def submitted(call, danang, danang_lead):
    proposal = make_proposal(call, danang, danang_lead)
    return services.submit_proposal(user=danang_lead, proposal=proposal)


@pytest.fixture
def reviewing(call, danang, danang_lead, staff):
    return under_review(make_proposal(call, danang, danang_lead), lead=danang_lead, staff=staff)


def actors(request, *names):
    return [request.getfixturevalue(name) for name in names]


# Every transition, allowed and refused, for every role.

NOT_STAFF = ["danang_lead", "danang_editor", "cebu_lead", "reviewer"]


@pytest.mark.parametrize("role", NOT_STAFF)
def test_only_staff_screen(request, submitted, role):
    with pytest.raises(PermissionDenied):
        services.screen_proposal(actor=request.getfixturevalue(role), proposal=submitted)
    assert (
        services.screen_proposal(actor=request.getfixturevalue("staff"), proposal=submitted).status
        == Status.SCREENING
    )


@pytest.mark.parametrize("role", ["danang_editor", "cebu_lead", "reviewer", "staff"])
def test_only_the_lead_submits(request, call, danang, danang_lead, role):
    proposal = make_proposal(call, danang, danang_lead)
    with pytest.raises(PermissionDenied):
        services.submit_proposal(user=request.getfixturevalue(role), proposal=proposal)


@pytest.mark.parametrize("role", NOT_STAFF)
def test_only_staff_request_revisions_send_to_review_and_decide(request, submitted, staff, role):
    actor = request.getfixturevalue(role)
    services.screen_proposal(actor=staff, proposal=submitted)
    with pytest.raises(PermissionDenied):
        services.request_revision(
            actor=actor, proposal=submitted, message="More", due=timezone.now() + SOON
        )
    with pytest.raises(PermissionDenied):
        services.reject_proposal(actor=actor, proposal=submitted, letter="No")
    with pytest.raises(PermissionDenied):
        services.record_eligibility(actor=actor, proposal=submitted, checks={})
    submitted.refresh_from_db()
    assert submitted.status == Status.SCREENING


@pytest.mark.parametrize("role", NOT_STAFF)
def test_only_staff_shortlist_and_approve(request, reviewing, staff, reviewer2, role):
    review(reviewing, reviewer2, [4, 4], staff=staff)
    actor = request.getfixturevalue(role)
    with pytest.raises(PermissionDenied):
        services.shortlist_proposal(actor=actor, proposal=reviewing)
    services.shortlist_proposal(actor=staff, proposal=reviewing)
    with pytest.raises(PermissionDenied):
        services.approve_proposal(actor=actor, proposal=reviewing, amount=1, letter="Yes")


def test_send_to_review_needs_the_whole_checklist(submitted, staff):
    services.screen_proposal(actor=staff, proposal=submitted)
    services.record_eligibility(actor=staff, proposal=submitted, checks={"applicant": True})
    with pytest.raises(ValidationError) as raised:
        services.send_to_review(actor=staff, proposal=submitted)
    assert raised.value.messages == [
        "Every item of the eligibility checklist must be ticked first."
    ]


def test_shortlist_needs_a_submitted_review(reviewing, staff):
    with pytest.raises(ValidationError) as raised:
        services.shortlist_proposal(actor=staff, proposal=reviewing)
    assert raised.value.messages == ["At least one review must be submitted first."]


def test_approve_checks_amount_and_letter(reviewing, staff, reviewer2):
    review(reviewing, reviewer2, [5, 4], staff=staff)
    services.shortlist_proposal(actor=staff, proposal=reviewing)
    with pytest.raises(ValidationError) as raised:
        services.approve_proposal(actor=staff, proposal=reviewing, amount=40_000_001, letter=" ")
    assert raised.value.messages == [
        "The approved amount must be set, and at most the requested amount.",
        "A decision letter is required.",
    ]
    reviewing.refresh_from_db()
    assert (reviewing.status, reviewing.approved_jpy) == (Status.SHORTLISTED, None)
    approved = services.approve_proposal(
        actor=staff, proposal=reviewing, amount=30_000_000, letter="Selected."
    )
    assert (approved.status, approved.approved_jpy, approved.decided_by) == (
        Status.APPROVED,
        30_000_000,
        staff,
    )


def test_transitions_from_the_wrong_state_are_refused(submitted, staff, danang_lead):
    with pytest.raises(ValidationError) as raised:
        services.send_to_review(actor=staff, proposal=submitted)
    assert raised.value.messages == ["This is not possible while the proposal is submitted."]
    with pytest.raises(ValidationError):
        services.shortlist_proposal(actor=staff, proposal=submitted)
    with pytest.raises(ValidationError):
        services.reject_proposal(actor=staff, proposal=submitted, letter="No")


def test_reject_in_screening_is_ineligible_and_needs_a_letter(submitted, staff):
    services.screen_proposal(actor=staff, proposal=submitted)
    with pytest.raises(ValidationError):
        services.reject_proposal(actor=staff, proposal=submitted, letter="")
    rejected = services.reject_proposal(actor=staff, proposal=submitted, letter="Out of scope.")
    assert (rejected.status, rejected.decision_letter) == (Status.REJECTED, "Out of scope.")
    assert StatusChange.objects.filter(proposal=submitted).last().message == "Not eligible."


def test_withdrawal_is_refused_after_a_decision(reviewing, staff, danang_lead):
    services.reject_proposal(actor=staff, proposal=reviewing, letter="Not selected.")
    with pytest.raises(ValidationError):
        services.withdraw_proposal(user=danang_lead, proposal=reviewing, reason="Too late")


def test_revision_round_trip_keeps_versions_and_code(
    submitted, staff, danang_lead, danang_editor, clock
):
    code = submitted.reference_code
    services.screen_proposal(actor=staff, proposal=submitted)
    with pytest.raises(ValidationError):  # a deadline is required
        services.request_revision(actor=staff, proposal=submitted, message="Add a map", due=None)
    services.request_revision(
        actor=staff,
        proposal=submitted,
        message="Add a map",
        due=submitted.call.closes_at + datetime.timedelta(days=5),
    )
    submitted.refresh_from_db()
    assert submitted.is_editable
    services.save_draft(
        user=danang_editor,
        proposal=submitted,
        base_version=submitted.version,
        values={"summary": "Now with a map."},
        focus_areas=submitted.focus_areas.all(),
        sectors=submitted.sectors.all(),
        partners=list(submitted.partners.values("name", "kind", "role")),
    )
    # The call has closed meanwhile: the resubmission deadline counts instead.
    clock.set(submitted.call.closes_at + datetime.timedelta(days=1))
    resubmitted = services.submit_proposal(user=danang_lead, proposal=submitted)
    assert (resubmitted.status, resubmitted.reference_code) == (Status.SUBMITTED, code)
    snapshots = list(
        ProposalSnapshot.objects.filter(proposal=submitted).values_list("number", "data__summary")
    )
    assert snapshots == [(1, "A short summary."), (2, "Now with a map.")]
    assert (
        StatusChange.objects.filter(proposal=submitted).last().message
        == "Resubmitted after revision."
    )


def test_resubmission_after_its_deadline_is_refused(submitted, staff, danang_lead, clock):
    services.screen_proposal(actor=staff, proposal=submitted)
    due = timezone.now() + SOON
    services.request_revision(actor=staff, proposal=submitted, message="Fix", due=due)
    clock.set(due + datetime.timedelta(seconds=1))
    with pytest.raises(ValidationError) as raised:
        services.submit_proposal(user=danang_lead, proposal=submitted)
    assert raised.value.messages == ["The deadline to resubmit has passed."]


def test_every_transition_is_recorded_and_announced(submitted, staff):
    heard = []

    def listener(sender, change, **kwargs):
        heard.append((change.from_status, change.to_status, change.actor))

    services.status_changed.connect(listener)
    try:
        services.screen_proposal(actor=staff, proposal=submitted)
    finally:
        services.status_changed.disconnect(listener)
    assert heard == [(Status.SUBMITTED, Status.SCREENING, staff)]
    assert list(
        StatusChange.objects.filter(proposal=submitted).values_list("to_status", flat=True)
    ) == [
        Status.SUBMITTED,
        Status.SCREENING,
    ]


# Assignment.


def test_assign_skips_conflicts_and_same_country(reviewing, staff, reviewer, reviewer2):
    vietnamese = in_group(UserFactory(email="rev.vn@example.org", is_staff=True), "MLIT reviewers")
    User.objects.filter(pk=vietnamese.pk).update(country=Country.objects.get(iso2="VN"))
    vietnamese.refresh_from_db()
    due = timezone.now().date() + SOON
    made, skipped = services.assign_reviewers(
        actor=staff, proposals=[reviewing], reviewers=[reviewer, vietnamese], due=due
    )
    assert [a.reviewer for a in made] == [reviewer]
    assert skipped == [f"{reviewing}: {vietnamese} works in the proposal's country."]
    services.declare_conflict(
        reviewer=reviewer, assignment=made[0], conflict=True, reason="I advise the city."
    )
    made, skipped = services.assign_reviewers(
        actor=staff, proposals=[reviewing], reviewers=[reviewer], due=due
    )
    assert (made, skipped) == ([], [f"{reviewing}: {reviewer} declared a conflict of interest."])
    assert AuditEvent.objects.filter(
        proposal=reviewing, action="conflict_declared"
    ).get().details == {"reason": "I advise the city."}


def test_auto_assign_balances_load(
    call, danang, danang_lead, cebu, cebu_lead, staff, reviewer, reviewer2
):
    third = in_group(UserFactory(email="reviewer3@example.org", is_staff=True), "MLIT reviewers")
    proposals = [
        under_review(
            make_proposal(call, danang, danang_lead, title=f"D{n}"), lead=danang_lead, staff=staff
        )
        for n in range(2)
    ] + [under_review(make_proposal(call, cebu, cebu_lead, title="C"), lead=cebu_lead, staff=staff)]
    made, skipped = services.auto_assign(
        actor=staff, proposals=proposals, per_proposal=2, due=timezone.now().date() + SOON
    )
    assert skipped == []
    loads = sorted(sum(a.reviewer == r for a in made) for r in (reviewer, reviewer2, third))
    assert loads == [2, 2, 2]
    assert all(p.assignments.count() == 2 for p in proposals)


def test_auto_assign_replaces_a_declined_reviewer(reviewing, staff, reviewer, reviewer2):
    due = timezone.now().date() + SOON
    (first,), _ = services.assign_reviewers(
        actor=staff, proposals=[reviewing], reviewers=[reviewer], due=due
    )
    services.declare_conflict(
        reviewer=reviewer, assignment=first, conflict=True, reason="Former employer"
    )
    made, _ = services.auto_assign(actor=staff, proposals=[reviewing], per_proposal=1, due=due)
    assert [a.reviewer for a in made] == [reviewer2]


def test_assign_needs_permission(reviewing, reviewer, danang_lead):
    with pytest.raises(PermissionDenied):
        services.assign_reviewers(
            actor=reviewer, proposals=[reviewing], reviewers=[reviewer], due=timezone.now().date()
        )


# Reviews.


def test_review_rules(reviewing, staff, reviewer, reviewer2, reference_data):
    due = timezone.now().date() + SOON
    (assignment,), _ = services.assign_reviewers(
        actor=staff, proposals=[reviewing], reviewers=[reviewer], due=due
    )
    criteria = list(reviewing.call.criteria.values_list("pk", flat=True))
    with pytest.raises(ValidationError):  # no declaration yet
        services.save_review(
            reviewer=reviewer, assignment=assignment, scores={}, comment="", recommendation=""
        )
    with pytest.raises(PermissionDenied):  # somebody else's assignment
        services.declare_conflict(reviewer=reviewer2, assignment=assignment, conflict=False)
    services.declare_conflict(reviewer=reviewer, assignment=assignment, conflict=False)
    other_call = make_call("Other")
    foreign = other_call.criteria.first().pk
    for scores in ({criteria[0]: 6}, {criteria[0]: 0}, {foreign: 3}):
        with pytest.raises(ValidationError):
            services.save_review(
                reviewer=reviewer,
                assignment=assignment,
                scores=scores,
                comment="",
                recommendation="",
            )
    with pytest.raises(PermissionDenied):
        services.save_review(
            reviewer=reviewer2,
            assignment=assignment,
            scores={criteria[0]: 5},
            comment="",
            recommendation="",
        )
    services.save_review(
        reviewer=reviewer,
        assignment=assignment,
        scores={criteria[0]: 3},
        comment="Draft",
        recommendation="",
    )
    with pytest.raises(ValidationError) as raised:
        services.save_review(
            reviewer=reviewer,
            assignment=assignment,
            scores={criteria[0]: 3},
            comment="",
            recommendation="fund",
            submit=True,
        )
    assert raised.value.messages == ["Score every criterion before submitting: Feasibility."]
    # The review page asks the same rules first, and stores nothing by asking.
    assert services.review_submission_refusals(
        reviewer=reviewer, assignment=assignment, scores={criteria[0]: 3}, recommendation="fund"
    ) == ["Score every criterion before submitting: Feasibility."]
    both = {criteria[0]: 4, criteria[1]: 2}
    assert services.review_submission_refusals(
        reviewer=reviewer, assignment=assignment, scores=both, recommendation=""
    ) == ["Choose a recommendation before submitting."]
    assert (
        services.review_submission_refusals(
            reviewer=reviewer, assignment=assignment, scores=both, recommendation="fund"
        )
        == []
    )
    with pytest.raises(PermissionDenied):
        services.review_submission_refusals(
            reviewer=reviewer2, assignment=assignment, scores=both, recommendation="fund"
        )
    assignment.refresh_from_db()
    assert assignment.state == AssignmentState.ACCEPTED
    assert list(assignment.review.scores.values_list("value", flat=True)) == [3]
    services.save_review(
        reviewer=reviewer,
        assignment=assignment,
        scores={criteria[0]: 4, criteria[1]: 2},
        comment="Ok",
        recommendation="fund",
        submit=True,
    )
    with pytest.raises(ValidationError):
        services.save_review(
            reviewer=reviewer,
            assignment=assignment,
            scores={criteria[0]: 5, criteria[1]: 5},
            comment="",
            recommendation="fund",
        )
    assignment.refresh_from_db()
    assert assignment.state == AssignmentState.SUBMITTED
    assert sorted(assignment.review.scores.values_list("value", flat=True)) == [2, 4]
    changes = list(
        AuditEvent.objects.filter(proposal=reviewing, action__startswith="review_")
        .order_by("pk")
        .values_list("action", "details__score_changes")
    )
    assert changes == [
        ("review_saved", {str(criteria[0]): [None, 3]}),
        ("review_submitted", {str(criteria[0]): [3, 4], str(criteria[1]): [None, 2]}),
    ]


def test_two_reviewers_saving_lose_nothing(reviewing, staff, reviewer, reviewer2):
    review(reviewing, reviewer, [5, 3], staff=staff, submit=False)
    review(reviewing, reviewer2, [2, 4], staff=staff, submit=False)
    values = {
        a.reviewer.email: sorted(a.review.scores.values_list("value", flat=True))
        for a in reviewing.assignments.all()
    }
    assert values == {"reviewer1@example.org": [3, 5], "reviewer2@example.org": [2, 4]}


# Scores of a call.


def test_scores_mean_median_spread_and_normalised(
    call, danang, danang_lead, cebu, cebu_lead, staff, reviewer, reviewer2
):
    # Weights: Relevance 3, Feasibility 2.
    first = under_review(
        make_proposal(call, danang, danang_lead, title="First"), lead=danang_lead, staff=staff
    )
    second = under_review(
        make_proposal(call, cebu, cebu_lead, title="Second"), lead=cebu_lead, staff=staff
    )
    review(first, reviewer, [5, 5], staff=staff)  # 5.0
    review(first, reviewer2, [3, 2], staff=staff)  # 2.6
    review(second, reviewer, [3, 3], staff=staff)  # 3.0
    review(second, reviewer2, [2, 2], staff=staff)  # 2.0

    def scores():
        return {p.title: p for p in Proposal.objects.with_scores()}

    one, two = scores()["First"], scores()["Second"]
    assert (one.score, one.review_count) == (pytest.approx(3.8), 2)
    assert (one.score_spread, one.reviewers_disagree) == (pytest.approx(2.4), True)
    assert (two.score_spread, two.reviewers_disagree) == (1.0, False)
    # Reviewer 1 gave 5.0 and 3.0 (z +1, -1); reviewer 2 gave 2.6 and 2.0 (z +1, -1).
    normalised = scoring.normalised_scores(call)
    assert normalised[first.pk] == pytest.approx(1.0)
    assert normalised[second.pk] == pytest.approx(-1.0)
    call.score_aggregation = "median"
    call.save()
    assert scores()["First"].score == pytest.approx(3.8)  # the median of two is their mean
    ranking = scoring.call_ranking(call, by="normalised")
    assert [p.title for p in ranking] == ["First", "Second"]


def test_each_review_keeps_its_weighted_score_through_drafts_and_reweighting(
    call, danang, danang_lead, staff, reviewer, reviewer2
):
    # Weights: Relevance 3, Feasibility 2.
    proposal = under_review(make_proposal(call, danang, danang_lead), lead=danang_lead, staff=staff)
    draft = review(proposal, reviewer, [5, 1], staff=staff, submit=False)
    assert draft.review.weighted_score == pytest.approx(3.4)
    relevance, feasibility = call.criteria.order_by("position")
    services.save_review(  # the draft, changed and submitted
        reviewer=reviewer,
        assignment=draft,
        scores={relevance.pk: 4, feasibility.pk: 4},
        comment="",
        recommendation="fund",
        submit=True,
    )
    first = draft
    second = review(proposal, reviewer2, [1, 5], staff=staff)
    stored = lambda assignment: Review.objects.get(assignment=assignment).weighted_score  # noqa: E731
    assert (stored(first), stored(second)) == (4.0, pytest.approx(2.6))
    assert Proposal.objects.with_scores().get(pk=proposal.pk).score == pytest.approx(3.3)

    # Staff reweigh a criterion (the call's admin page saves it): every stored score follows,
    # and so does the proposal's score, which every page and export reads.
    feasibility.weight = 6
    feasibility.save()
    assert (stored(first), stored(second)) == (4.0, pytest.approx((3 + 30) / 9))
    scored = Proposal.objects.with_scores().get(pk=proposal.pk)
    assert (scored.review_count, scored.score_spread) == (2, pytest.approx(4 - 33 / 9))
    assert scored.score == pytest.approx((4 + 33 / 9) / 2)
    # A criterion added after the reviews were submitted changes none of them.
    call.criteria.create(name="Inclusiveness", weight=9, position=2)
    assert stored(second) == pytest.approx(33 / 9)


def test_scores_of_reviews_that_predate_the_stored_score_are_filled_in(
    call, danang, danang_lead, staff, reviewer
):
    import importlib

    from django.apps import apps

    proposal = under_review(make_proposal(call, danang, danang_lead), lead=danang_lead, staff=staff)
    assignment = review(proposal, reviewer, [2, 5], staff=staff)
    Review.objects.update(weighted_score=None)
    migration = importlib.import_module("proposals.migrations.0011_review_weighted_score")
    migration.fill_weighted_scores(apps, None)
    assert Review.objects.get(assignment=assignment).weighted_score == pytest.approx(3.2)
    assert scoring.refresh_weighted_scores(Review.objects.all()) == 0  # they agree


def test_normalised_ranking_can_differ_from_raw(call, reference_data, staff, reviewer, reviewer2):
    proposals = []
    for n, name in enumerate(["Huế", "Cần Thơ", "Hải Phòng"]):
        city = make_city(name, "VN", verified=True)
        lead = UserFactory(email=f"lead{n}@example.org")
        city.memberships.create(user=lead, role="lead")
        proposals.append(
            under_review(make_proposal(call, city, lead, title=name), lead=lead, staff=staff)
        )
    hue, cantho, haiphong = proposals
    # A lenient reviewer rates Huế highly; a harsh one rates Cần Thơ and Hải Phòng.
    review(hue, reviewer, [5, 5], staff=staff)
    review(cantho, reviewer, [5, 4], staff=staff)
    review(cantho, reviewer2, [2, 2], staff=staff)
    review(haiphong, reviewer2, [3, 3], staff=staff)
    raw = [p.title for p in scoring.call_ranking(call)]
    normalised = [p.title for p in scoring.call_ranking(call, by="normalised")]
    assert raw == ["Huế", "Cần Thơ", "Hải Phòng"]
    assert normalised == ["Huế", "Hải Phòng", "Cần Thơ"]


@pytest.mark.django_db(transaction=True)
def test_two_staff_deciding_at_once_leave_one_decision(reference_data):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so there is no race to test")
    from .conftest import member

    city = make_city("Đà Lạt", "VN", verified=True)
    lead = member(city, "lead.dalat@example.org", "Lead", "lead")
    staff_a = in_group(UserFactory(email="a@example.org", is_staff=True), "Programme staff")
    staff_b = in_group(UserFactory(email="b@example.org", is_staff=True), "Programme staff")
    reviewer = in_group(UserFactory(email="r@example.org", is_staff=True), "MLIT reviewers")
    call = make_call()
    proposal = under_review(make_proposal(call, city, lead), lead=lead, staff=staff_a)
    review(proposal, reviewer, [4, 4], staff=staff_a)
    services.shortlist_proposal(actor=staff_a, proposal=proposal)

    results = []
    barrier = threading.Barrier(2)

    def decide(action):
        barrier.wait()
        try:
            results.append(action())
        except ValidationError as exc:
            results.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(
            target=decide,
            args=(
                lambda: services.approve_proposal(
                    actor=staff_a, proposal=proposal, amount=1_000_000, letter="Yes"
                ),
            ),
        ),
        threading.Thread(
            target=decide,
            args=(lambda: services.reject_proposal(actor=staff_b, proposal=proposal, letter="No"),),
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(type(r).__name__ for r in results) == ["Proposal", "ValidationError"]
    decided = Proposal.objects.get(pk=proposal.pk)
    assert decided.status in (Status.APPROVED, Status.REJECTED)
    assert (
        StatusChange.objects.filter(
            proposal=proposal, to_status__in=[Status.APPROVED, Status.REJECTED]
        ).count()
        == 1
    )
