"""Scores of reviews and proposals (SPEC.md, "Scoring").

A review's weighted score is Σ weightᵢ·scoreᵢ / Σ weightᵢ, stored on the review (its one
writer is the review's save, `services.save_review`, and reweighing below). A proposal's score
combines its submitted reviews by the call's method (mean or median), shown with their number
and spread: `Proposal.objects.with_scores()`, which every page, export and the ranking read; a
spread above 1.5 points flags a disagreement (`Proposal.reviewers_disagree`). The normalised
score puts each reviewer's weighted scores on a common scale (z-scores over the call), so a
harsh and a lenient reviewer count alike; it needs each reviewer's spread over the call, which
is computed here, in Python.
"""

import statistics
from collections import defaultdict
from decimal import Decimal

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, Subquery

from .models import (
    Aggregation,
    Call,
    PanelRecord,
    Proposal,
    Review,
    ReviewAssignment,
    Score,
    Status,
)


def weighted_score(pairs: list[tuple[Decimal | float, int]]) -> float:
    """Σ weight·score / Σ weight for (weight, score) pairs."""
    total_weight = sum(float(weight) for weight, _score in pairs)
    if total_weight <= 0:
        raise ValueError("weights must add up to more than zero")
    return sum(float(weight) * score for weight, score in pairs) / total_weight


@transaction.atomic
def refresh_weighted_scores(reviews) -> int:
    """Store the weighted score of each review of the queryset `reviews`, from its scores and
    its criteria's weights as they are now (None without scores); returns how many changed.

    Called when a criterion is saved (its weight may have changed); `services.save_review`
    sets the score itself from the scores it saves. The reviews are locked first, so that a
    review saved meanwhile waits (its save locks the criteria, which this one's caller holds)."""
    stored = dict(reviews.select_for_update().values_list("pk", "weighted_score"))
    pairs: dict[int, list] = {pk: [] for pk in stored}
    for review_id, weight, value in Score.objects.filter(review__in=list(stored)).values_list(
        "review_id", "criterion__weight", "value"
    ):
        pairs[review_id].append((weight, value))
    changed = []
    for review_id, review_pairs in pairs.items():
        value = weighted_score(review_pairs) if review_pairs else None
        if stored.get(review_id) != value:
            changed.append(Review(pk=review_id, weighted_score=value))
    return Review.objects.bulk_update(changed, ["weighted_score"], batch_size=500)


def z_scores(values: list[float]) -> list[float]:
    """Each value's distance from the mean in standard deviations (0 when all are equal)."""
    if len(values) < 2:
        return [0.0 for _value in values]
    mean = statistics.fmean(values)
    spread = statistics.pstdev(values)
    # Values that differ only by rounding error (1.0 and 1.0000000000000002) are equal: their
    # "spread" is noise, and dividing by it would turn a tie into two standard deviations.
    if spread <= 1e-9 * max(1.0, max(abs(value) for value in values)):
        return [0.0 for _value in values]
    return [(value - mean) / spread for value in values]


def combine(values: list[float], method: str) -> float | None:
    """Normalised scores combined as the call says (the raw score is with_scores()' own)."""
    if not values:
        return None
    return statistics.median(values) if method == Aggregation.MEDIAN else statistics.fmean(values)


def normalised_scores(call: Call) -> dict[int, float]:
    """The normalised score of every proposal of `call` with counted reviews, in one query:
    each reviewer's weighted scores over the call as z-scores, combined per proposal."""
    rows = (
        Review.objects.counted()
        .filter(assignment__proposal__call=call)
        .order_by("pk")
        .values_list("assignment__reviewer_id", "assignment__proposal_id", "weighted_score")
    )
    by_reviewer: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for reviewer_id, proposal_id, score in rows:
        by_reviewer[reviewer_id].append((proposal_id, score))
    by_proposal: dict[int, list[float]] = defaultdict(list)
    for reviews in by_reviewer.values():
        for (proposal_id, _score), z in zip(
            reviews, z_scores([score for _proposal_id, score in reviews]), strict=True
        ):
            by_proposal[proposal_id].append(z)
    return {
        proposal_id: combine(values, call.score_aggregation)
        for proposal_id, values in by_proposal.items()
    }


# Proposals that reached review (rejected ones only if they were reviewed).
RANKED_STATUSES = [Status.UNDER_REVIEW, Status.SHORTLISTED, Status.APPROVED]


def call_ranking(call: Call, *, by: str = "score") -> list[Proposal]:
    """The call's proposals under review or later, best first by score (`with_scores`), by
    normalised score (set as `normalised` on each) or by the consensus panel's weighted score
    (`consensus`: its latest record's)."""
    normalised = normalised_scores(call)
    reviewed = Exists(ReviewAssignment.objects.filter(proposal=OuterRef("pk")))
    latest_panel = PanelRecord.objects.filter(proposal=OuterRef("pk")).order_by(
        "-session__held_on", "-pk"
    )
    proposals = list(
        Proposal.objects.filter(call=call)
        .filter(Q(status__in=RANKED_STATUSES) | (Q(status=Status.REJECTED) & reviewed))
        .with_scores()
        .annotate(consensus=Subquery(latest_panel.values("weighted_score")[:1]))
        .select_related("city")
        .order_by("reference_code")
    )
    for proposal in proposals:
        proposal.normalised = normalised.get(proposal.pk)
    key = by if by in ("normalised", "consensus") else "score"

    def sort_key(proposal):
        value = getattr(proposal, key)
        return (value is None, -(value or 0), proposal.reference_code or "")

    return sorted(proposals, key=sort_key)
