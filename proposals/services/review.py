"""The review workflow: screening, revisions, decisions, reviewers' assignments, conflicts
of interest and scores."""

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, ngettext_lazy

from .. import audit as audit_trail
from .. import notifications, scoring
from ..models import (
    ELIGIBILITY_CHECKS,
    AssignmentState,
    Call,
    CriterionFeedback,
    EvaluationSummary,
    PanelRecord,
    PanelScore,
    PanelSession,
    Proposal,
    Recommendation,
    Review,
    ReviewAssignment,
    Score,
    Status,
    User,
)
from ..roles import PROGRAMME_STAFF, REVIEWERS
from .projects import create_project
from .proposals import take_transition


def _locked(proposal: Proposal) -> Proposal:
    return (
        Proposal.objects.select_for_update()
        .select_related("call", "city__country")
        .get(pk=proposal.pk)
    )


@transaction.atomic
def screen_proposal(*, actor: User, proposal: Proposal) -> Proposal:
    """Staff take a submitted proposal into screening."""
    current = _locked(proposal)
    take_transition(current, "screen", actor=actor, message=gettext_noop("Screening started."))
    return current


@transaction.atomic
def record_eligibility(*, actor: User, proposal: Proposal, checks: dict[str, bool]) -> Proposal:
    """Staff tick the eligibility checklist of a proposal in screening."""
    if not actor.has_perm("proposals.screen_proposal"):
        raise PermissionDenied
    current = _locked(proposal)
    if current.status != Status.SCREENING:
        raise ValidationError(_("The checklist is filled in during screening."))
    known = {key for key, _label in ELIGIBILITY_CHECKS}
    current.eligibility = {key: bool(checks.get(key)) for key in known}
    current.save(update_fields=["eligibility", "updated_at"])
    audit_trail.record(
        actor=actor, action="eligibility", proposal=current, checks=current.eligibility
    )
    return current


@transaction.atomic
def request_revision(*, actor: User, proposal: Proposal, message: str, due) -> Proposal:
    """Staff return a proposal in screening to its city, to change and resubmit by `due`."""
    message = message.strip()
    if not message:
        raise ValidationError(_("Tell the city what to change."))
    current = _locked(proposal)
    current.resubmission_due = due
    take_transition(current, "request_revision", actor=actor, message=message)
    return current


@transaction.atomic
def send_to_review(*, actor: User, proposal: Proposal) -> Proposal:
    current = _locked(proposal)
    take_transition(
        current,
        "send_to_review",
        actor=actor,
        message=gettext_noop("Eligible: sent to the reviewers."),
    )
    return current


# Assignments whose review is still to come: not declared yet, or being written.
OPEN_REVIEW_STATES = [AssignmentState.AWAITING_DECLARATION, AssignmentState.ACCEPTED]
OUTSTANDING = ngettext_lazy(
    "%(count)d review is still outstanding: wait for it, or confirm that you decide without it.",
    "%(count)d reviews are still outstanding: wait for them, or confirm that you decide without "
    "them.",
    "count",
)


def outstanding_reviews(proposal: Proposal) -> int:
    """How many of the proposal's reviews are still to come."""
    return proposal.assignments.filter(state__in=OPEN_REVIEW_STATES).count()


def _after_the_reviews(current: Proposal, *, actor: User, step: str, override: bool) -> None:
    """A decision (shortlist, approve, reject) waits for the proposal's outstanding reviews,
    unless staff confirm that they decide without them: that is recorded."""
    count = outstanding_reviews(current)
    if not count:
        return
    if not override:
        raise ValidationError(OUTSTANDING % {"count": count})
    audit_trail.record(
        actor=actor, action="decision.override", proposal=current, step=step, outstanding=count
    )


@transaction.atomic
def shortlist_proposal(
    *, actor: User, proposal: Proposal, note: str = "", override: bool = False
) -> Proposal:
    current = _locked(proposal)
    _after_the_reviews(current, actor=actor, step="shortlist", override=override)
    take_transition(current, "shortlist", actor=actor, message=note, public=False)
    return current


@transaction.atomic
def open_panel(*, actor: User, call: Call, held_on, members) -> PanelSession:
    """Staff open a consensus panel for a call, after the individual reviews."""
    if not actor.has_perm("proposals.decide_proposal"):
        raise PermissionDenied
    members = list(members)
    if not members:
        raise ValidationError(_("A panel has at least one member."))
    session = PanelSession.objects.create(call=call, held_on=held_on, created_by=actor)
    session.members.set(members)
    audit_trail.record(
        actor=actor,
        action="panel.opened",
        call=call.code,
        held_on=held_on.isoformat(),
        members=[member.email for member in members],
    )
    return session


@transaction.atomic
def record_consensus(
    *,
    actor: User,
    proposal: Proposal,
    session: PanelSession,
    scores: dict[int, int],
    rationale: str,
    recommendation: str,
) -> PanelRecord:
    """The panel's agreement on a proposal under review or shortlisted: a 1-5 score for every
    criterion, a written rationale and a recommendation; its weighted score by the review's
    formula (scoring.weighted_score). Recorded again replaces the session's earlier record."""
    if not actor.has_perm("proposals.decide_proposal"):
        raise PermissionDenied
    current = _locked(proposal)
    if session.call_id != current.call_id:
        raise ValidationError(_("This panel is for another call."))
    if current.status not in (Status.UNDER_REVIEW, Status.SHORTLISTED):
        raise ValidationError(_("A panel records its consensus on proposals under review."))
    criteria = {criterion.pk: criterion for criterion in current.call.criteria.all()}
    missing = [criteria[pk].name for pk in criteria if pk not in scores]
    if set(scores) - set(criteria) or any(
        not isinstance(v, int) or not 1 <= v <= 5 for v in scores.values()
    ):
        raise ValidationError(_("Each agreed score is a whole number from 1 to 5."))
    if missing:
        raise ValidationError(
            _("Agree on a score for every criterion: %(missing)s.")
            % {"missing": ", ".join(missing)}
        )
    rationale = rationale.strip()
    if not rationale:
        raise ValidationError(_("Write the panel's rationale."))
    if recommendation not in Recommendation.values:
        raise ValidationError(_("Choose the panel's recommendation."))
    record, _created = PanelRecord.objects.update_or_create(
        session=session,
        proposal=current,
        defaults={
            "rationale": rationale,
            "recommendation": recommendation,
            "recorded_by": actor,
            "weighted_score": scoring.weighted_score(
                [(criteria[pk].weight, value) for pk, value in scores.items()]
            ),
        },
    )
    for criterion_id, value in scores.items():
        PanelScore.objects.update_or_create(
            record=record, criterion_id=criterion_id, defaults={"value": value}
        )
    audit_trail.record(
        actor=actor,
        action="panel.consensus",
        proposal=current,
        session=session.pk,
        scores={str(pk): value for pk, value in scores.items()},
        recommendation=recommendation,
    )
    return record


@transaction.atomic
def write_evaluation_summary(
    *,
    actor: User,
    proposal: Proposal,
    language: str,
    overall: str,
    feedback: dict[int, tuple[str, str]],
) -> EvaluationSummary:
    """Staff write (or rewrite) the proposal's evaluation summary in `language`: an overall
    assessment and, by criterion id, (strengths, weaknesses). Recorded in the audit trail."""
    if not actor.has_perm("proposals.decide_proposal"):
        raise PermissionDenied
    current = _locked(proposal)
    overall = overall.strip()
    if not overall:
        raise ValidationError(_("Write the overall assessment."))
    if language not in dict(settings.LANGUAGES):
        raise ValidationError(_("Choose one of the portal's languages."))
    criteria = set(current.call.criteria.values_list("pk", flat=True))
    if set(feedback) - criteria:
        raise ValidationError(_("Feedback was given on a criterion of another call."))
    summary, _created = EvaluationSummary.objects.update_or_create(
        proposal=current, language=language, defaults={"overall": overall, "written_by": actor}
    )
    for criterion_id in criteria:
        strengths, weaknesses = (text.strip() for text in feedback.get(criterion_id, ("", "")))
        if strengths or weaknesses:
            CriterionFeedback.objects.update_or_create(
                summary=summary,
                criterion_id=criterion_id,
                defaults={"strengths": strengths, "weaknesses": weaknesses},
            )
        else:
            summary.criteria.filter(criterion_id=criterion_id).delete()
    summary.save()  # last: its save is what the proposal page's cached copy follows
    audit_trail.record(
        actor=actor, action="decision.evaluation_summary", proposal=current, language=language
    )
    return summary


def envelope_use(call: Call) -> dict:
    """The call's envelope, what its approved proposals were granted, what remains of it and
    by how much approvals went beyond it (one of the last two is 0), in yen: for the decision
    page and the approval rule."""
    approved = (
        Proposal.objects.filter(call=call, status=Status.APPROVED).aggregate(
            total=Sum("approved_jpy")
        )["total"]
        or 0
    )
    return {
        "envelope": call.envelope_jpy,
        "approved": approved,
        "remaining": max(call.envelope_jpy - approved, 0),
        "beyond": max(approved - call.envelope_jpy, 0),
    }


def _within_the_envelope(current: Proposal, amount: int, *, actor: User, reason: str) -> None:
    """An approval stays within what remains of the call's envelope, unless staff give a
    reason, which is recorded. The call's row is locked first, so that approvals of one call
    queue and two cannot both take what remains."""
    call = Call.objects.select_for_update().get(pk=current.call_id)
    use = envelope_use(call)
    if amount <= use["remaining"]:
        return
    reason = reason.strip()
    if not reason:
        raise ValidationError(
            _(
                "Approving ¥%(amount)s would go beyond the call's envelope: ¥%(remaining)s "
                "of ¥%(envelope)s remain. Give a reason to approve beyond it."
            )
            % {
                "amount": f"{amount:,}",
                "remaining": f"{use['remaining']:,}",
                "envelope": f"{use['envelope']:,}",
            }
        )
    audit_trail.record(
        actor=actor,
        action="decision.beyond_envelope",
        proposal=current,
        amount=amount,
        remaining=use["remaining"],
        envelope=use["envelope"],
        reason=reason,
    )


@transaction.atomic
def approve_proposal(
    *,
    actor: User,
    proposal: Proposal,
    amount: int,
    letter: str,
    override: bool = False,
    beyond_envelope: str = "",
) -> Proposal:
    """Staff approve a shortlisted proposal: an amount (at most the request, and within what
    remains of the call's envelope unless `beyond_envelope` says why) and a letter. The
    proposal becomes a project (services.projects.create_project)."""
    current = _locked(proposal)
    _after_the_reviews(current, actor=actor, step="approve", override=override)
    _within_the_envelope(current, amount, actor=actor, reason=beyond_envelope)
    current.approved_jpy = amount
    current.decision_letter = letter.strip()
    current.decided_by = actor
    current.decided_at = timezone.now()
    take_transition(current, "approve", actor=actor, message=gettext_noop("Approved."))
    create_project(actor=actor, proposal=current)
    return current


@transaction.atomic
def reject_proposal(
    *, actor: User, proposal: Proposal, letter: str, override: bool = False
) -> Proposal:
    """Staff reject a proposal, as ineligible in screening or after review, with a letter."""
    current = _locked(proposal)
    _after_the_reviews(current, actor=actor, step="reject", override=override)
    ineligible = current.status == Status.SCREENING
    current.decision_letter = letter.strip()
    current.decided_by = actor
    current.decided_at = timezone.now()
    take_transition(
        current,
        "reject",
        actor=actor,
        message=gettext_noop("Not eligible.") if ineligible else gettext_noop("Not selected."),
    )
    return current


def _may_assign(actor: User) -> None:
    if not actor.has_perm("proposals.assign_reviewers"):
        raise PermissionDenied


def reviewer_pool():
    """Everyone who may review: active members of the reviewers' group."""
    return User.objects.filter(is_active=True, groups__name=REVIEWERS)


def panel_candidates():
    """Who may sit on a consensus panel: the reviewers and programme staff."""
    return (
        User.objects.filter(
            is_active=True, is_staff=True, groups__name__in=[REVIEWERS, PROGRAMME_STAFF]
        )
        .distinct()
        .order_by("full_name", "email")
    )


def assignment_refusal(proposal: Proposal, reviewer: User) -> str | None:
    """Why `reviewer` may not review `proposal` (None when they may)."""
    if reviewer.country_id and reviewer.country_id == proposal.city.country_id:
        return _("%(reviewer)s works in the proposal's country.") % {"reviewer": reviewer}
    existing = proposal.assignments.filter(reviewer=reviewer).first()
    if existing and existing.state == AssignmentState.DECLINED:
        return _("%(reviewer)s declared a conflict of interest.") % {"reviewer": reviewer}
    if existing:
        return _("%(reviewer)s is assigned already.") % {"reviewer": reviewer}
    return None


@transaction.atomic
def assign_reviewers(*, actor: User, proposals, reviewers, due) -> tuple[list, list[str]]:
    """Assign each reviewer to each proposal under review; returns (made, skipped reasons)."""
    _may_assign(actor)
    made, skipped = [], []
    pool = set(reviewer_pool().values_list("pk", flat=True))
    for proposal in proposals:
        proposal = _locked(proposal)
        if proposal.status != Status.UNDER_REVIEW:
            skipped.append(_("%(proposal)s is not under review.") % {"proposal": proposal})
            continue
        for reviewer in reviewers:
            if reviewer.pk not in pool:
                skipped.append(_("%(user)s is not a reviewer.") % {"user": reviewer})
                continue
            if refusal := assignment_refusal(proposal, reviewer):
                skipped.append(f"{proposal}: {refusal}")
                continue
            made.append(_assign(actor, proposal, reviewer, due))
    return made, skipped


def _assign(actor: User, proposal: Proposal, reviewer: User, due) -> ReviewAssignment:
    assignment = ReviewAssignment.objects.create(
        proposal=proposal, reviewer=reviewer, due=due, assigned_by=actor
    )
    audit_trail.record(
        actor=actor,
        action="assigned",
        proposal=proposal,
        reviewer=reviewer.email,
        due=due.isoformat(),
    )
    notifications.reviewer_assigned(assignment)
    return assignment


@transaction.atomic
def auto_assign(*, actor: User, proposals, per_proposal: int, due) -> tuple[list, list[str]]:
    """Give each proposal `per_proposal` active reviewers, least-loaded reviewers first.

    Skips reviewers who declared a conflict on the proposal or work in its country.
    """
    _may_assign(actor)
    from django.db.models import Count, Q

    load = dict(
        reviewer_pool()
        .annotate(
            active=Count(
                "assignments",
                filter=Q(
                    assignments__state__in=[
                        AssignmentState.AWAITING_DECLARATION,
                        AssignmentState.ACCEPTED,
                    ]
                ),
            )
        )
        .values_list("pk", "active")
    )
    reviewers = {user.pk: user for user in reviewer_pool()}
    made, skipped = [], []
    for proposal in proposals:
        proposal = _locked(proposal)
        if proposal.status != Status.UNDER_REVIEW:
            skipped.append(_("%(proposal)s is not under review.") % {"proposal": proposal})
            continue
        needed = per_proposal - proposal.assignments.active().count()
        candidates = sorted(reviewers.values(), key=lambda user: (load[user.pk], user.email))
        for reviewer in candidates:
            if needed <= 0:
                break
            if assignment_refusal(proposal, reviewer):
                continue
            made.append(_assign(actor, proposal, reviewer, due))
            load[reviewer.pk] += 1
            needed -= 1
        if needed > 0:
            skipped.append(
                _("%(proposal)s: %(count)d more reviewer(s) needed, none free.")
                % {"proposal": proposal, "count": needed}
            )
    return made, skipped


def _reviewers_assignment(reviewer: User, assignment: ReviewAssignment) -> ReviewAssignment:
    current = (
        ReviewAssignment.objects.select_for_update()
        .select_related("proposal__call")
        .get(pk=assignment.pk)
    )
    if current.reviewer_id != reviewer.pk:
        raise PermissionDenied
    return current


@transaction.atomic
def declare_conflict(
    *, reviewer: User, assignment: ReviewAssignment, conflict: bool, reason: str = ""
) -> ReviewAssignment:
    """The reviewer declares whether they have a conflict of interest; a conflict declines."""
    current = _reviewers_assignment(reviewer, assignment)
    if current.state != AssignmentState.AWAITING_DECLARATION:
        raise ValidationError(_("You have declared this already."))
    reason = reason.strip()
    if conflict and not reason:
        raise ValidationError(_("Please describe the conflict of interest."))
    current.state = AssignmentState.DECLINED if conflict else AssignmentState.ACCEPTED
    current.conflict_reason = reason if conflict else ""
    current.declared_at = timezone.now()
    current.save(update_fields=["state", "conflict_reason", "declared_at"])
    audit_trail.record(
        actor=reviewer,
        action="conflict_declared" if conflict else "no_conflict_declared",
        proposal=current.proposal,
        reason=reason,
    )
    if conflict:
        notifications.conflict_declared(current)
    return current


def _check_review(current, criteria, scores, recommendation, *, submit: bool) -> None:
    """The rules a review's values meet before they are saved (and, with `submit`, before it
    is locked); a ValidationError says which is broken."""
    if current.state == AssignmentState.SUBMITTED:
        raise ValidationError(_("This review has been submitted and can no longer change."))
    if current.state != AssignmentState.ACCEPTED:
        raise ValidationError(_("Declare first whether you have a conflict of interest."))
    unknown = set(scores) - set(criteria)
    if unknown:
        raise ValidationError(_("A score was given for a criterion of another call."))
    if any(not isinstance(v, int) or not 1 <= v <= 5 for v in scores.values()):
        raise ValidationError(_("Each score is a whole number from 1 to 5."))
    if submit:
        missing = [criteria[pk].name for pk in criteria if pk not in scores]
        if missing:
            raise ValidationError(
                _("Score every criterion before submitting: %(missing)s.")
                % {"missing": ", ".join(missing)}
            )
        if not recommendation:
            raise ValidationError(_("Choose a recommendation before submitting."))


def review_submission_refusals(
    *, reviewer: User, assignment: ReviewAssignment, scores: dict[int, int], recommendation: str
) -> list[str]:
    """Why submitting these values would be refused (none: save_review would accept them),
    by the same rules; the review page asks before it offers the confirmation. Stores nothing."""
    current = ReviewAssignment.objects.select_related("proposal__call").get(pk=assignment.pk)
    if current.reviewer_id != reviewer.pk:
        raise PermissionDenied
    criteria = {criterion.pk: criterion for criterion in current.proposal.call.criteria.all()}
    try:
        _check_review(current, criteria, scores, recommendation, submit=True)
    except ValidationError as exc:
        return exc.messages
    return []


@transaction.atomic
def save_review(
    *,
    reviewer: User,
    assignment: ReviewAssignment,
    scores: dict[int, int],
    comment: str,
    recommendation: str,
    submit: bool = False,
) -> Review:
    """Save the reviewer's scores (1-5 per criterion), comment and recommendation; with
    `submit`, every criterion and a recommendation are required and the review is locked."""
    current = _reviewers_assignment(reviewer, assignment)
    # Locked: a criterion reweighed meanwhile waits for this review's scores, or this waits
    # for its new weight (scoring.refresh_weighted_scores), so the stored score agrees.
    criteria = {
        criterion.pk: criterion for criterion in current.proposal.call.criteria.select_for_update()
    }
    _check_review(current, criteria, scores, recommendation, submit=submit)
    review, _created = Review.objects.get_or_create(assignment=current)
    before = dict(review.scores.values_list("criterion_id", "value"))
    for criterion_id, value in scores.items():
        Score.objects.update_or_create(
            review=review, criterion_id=criterion_id, defaults={"value": value}
        )
    review.scores.exclude(criterion_id__in=scores).delete()
    review.comment = comment
    review.recommendation = recommendation
    review.weighted_score = (
        scoring.weighted_score([(criteria[pk].weight, value) for pk, value in scores.items()])
        if scores
        else None
    )
    if submit:
        review.submitted_at = timezone.now()
        current.state = AssignmentState.SUBMITTED
        current.save(update_fields=["state"])
    review.save()
    changed = {
        str(pk): [before.get(pk), scores.get(pk)]
        for pk in set(before) | set(scores)
        if before.get(pk) != scores.get(pk)
    }
    audit_trail.record(
        actor=reviewer,
        action="review_submitted" if submit else "review_saved",
        proposal=current.proposal,
        score_changes=changed,
        recommendation=recommendation,
    )
    if (
        submit
        and not current.proposal.assignments.exclude(
            state__in=[AssignmentState.SUBMITTED, AssignmentState.DECLINED]
        ).exists()
    ):
        notifications.reviews_complete(current.proposal)
    return review
