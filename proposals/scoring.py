"""Scores of reviews and proposals (SPEC.md, "Scoring").

A review's weighted score is Σ weightᵢ·scoreᵢ / Σ weightᵢ. A proposal's score combines its
submitted reviews by the call's method (mean or median), shown with their number and spread; a
spread above 1.5 points flags a disagreement. The normalised score puts each reviewer's
weighted scores on a common scale (z-scores over the call), so a harsh and a lenient reviewer
count alike.
"""

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.db.models import Q

from .models import Aggregation, Call, Proposal, Review, Score
from .summaries import touch

DISAGREEMENT_SPREAD = 1.5


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
    count = Review.objects.bulk_update(changed, ["weighted_score"], batch_size=500)
    if changed:  # bulk_update sends no signal
        touch(assignments__review__in=[review.pk for review in changed])
    return count


def aggregate(values: list[float], method: str) -> float | None:
    if not values:
        return None
    if method == Aggregation.MEDIAN:
        return statistics.median(values)
    return statistics.fmean(values)


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


@dataclass
class ProposalScore:
    proposal_id: int
    reviews: list[float] = field(default_factory=list)
    normalised_reviews: list[float] = field(default_factory=list)
    method: str = Aggregation.MEAN

    @property
    def count(self) -> int:
        return len(self.reviews)

    @property
    def score(self) -> float | None:
        return aggregate(self.reviews, self.method)

    @property
    def normalised(self) -> float | None:
        return aggregate(self.normalised_reviews, self.method)

    @property
    def spread(self) -> float | None:
        return max(self.reviews) - min(self.reviews) if self.reviews else None

    @property
    def disagreement(self) -> bool:
        return self.spread is not None and self.spread > DISAGREEMENT_SPREAD


def call_scores(call: Call) -> dict[int, ProposalScore]:
    """The score of every proposal of `call` that has submitted reviews, in one query."""
    rows = Review.objects.filter(
        assignment__proposal__call=call, submitted_at__isnull=False, weighted_score__isnull=False
    ).values_list("pk", "assignment__reviewer_id", "assignment__proposal_id", "weighted_score")
    weighted: dict[int, float] = {}
    owner: dict[int, tuple[int, int]] = {}
    for review_id, reviewer_id, proposal_id, score in rows:
        weighted[review_id] = score
        owner[review_id] = (reviewer_id, proposal_id)

    by_reviewer: dict[int, list[int]] = defaultdict(list)
    for review_id, (reviewer_id, _proposal_id) in owner.items():
        by_reviewer[reviewer_id].append(review_id)
    normalised: dict[int, float] = {}
    for review_ids in by_reviewer.values():
        for review_id, z in zip(
            review_ids, z_scores([weighted[r] for r in review_ids]), strict=True
        ):
            normalised[review_id] = z

    results: dict[int, ProposalScore] = {}
    for review_id in sorted(weighted):
        _reviewer_id, proposal_id = owner[review_id]
        entry = results.setdefault(
            proposal_id, ProposalScore(proposal_id=proposal_id, method=call.score_aggregation)
        )
        entry.reviews.append(weighted[review_id])
        entry.normalised_reviews.append(normalised[review_id])
    return results


def call_ranking(call: Call, *, by: str = "score") -> list[tuple[Proposal, ProposalScore]]:
    """The call's proposals under review or later, best first, by raw or normalised score."""
    scores = call_scores(call)
    # Proposals that reached review (rejected ones only if they were reviewed).
    proposals = (
        Proposal.objects.filter(call=call)
        .filter(Q(status__in=RANKED_STATUSES) | Q(status="rejected", assignments__isnull=False))
        .distinct()
        .select_related("city__country")
        .order_by("reference_code")
    )
    rows = [
        (
            proposal,
            scores.get(proposal.pk) or ProposalScore(proposal.pk, method=call.score_aggregation),
        )
        for proposal in proposals
    ]
    key = "normalised" if by == "normalised" else "score"

    def sort_key(row):
        value = getattr(row[1], key)
        return (value is None, -(value or 0), row[0].reference_code or "")

    return sorted(rows, key=sort_key)


RANKED_STATUSES = ["under_review", "shortlisted", "approved"]
