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

from django.db.models import Q

from .models import Aggregation, Call, Proposal, Score

DISAGREEMENT_SPREAD = 1.5


def weighted_score(pairs: list[tuple[Decimal | float, int]]) -> float:
    """Σ weight·score / Σ weight for (weight, score) pairs."""
    total_weight = sum(float(weight) for weight, _score in pairs)
    if total_weight <= 0:
        raise ValueError("weights must add up to more than zero")
    return sum(float(weight) * score for weight, score in pairs) / total_weight


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
    rows = Score.objects.filter(
        review__assignment__proposal__call=call, review__submitted_at__isnull=False
    ).values_list(
        "review_id",
        "review__assignment__reviewer_id",
        "review__assignment__proposal_id",
        "criterion__weight",
        "value",
    )
    pairs: dict[int, list] = defaultdict(list)
    owner: dict[int, tuple[int, int]] = {}
    for review_id, reviewer_id, proposal_id, weight, value in rows:
        pairs[review_id].append((weight, value))
        owner[review_id] = (reviewer_id, proposal_id)
    weighted = {review_id: weighted_score(p) for review_id, p in pairs.items()}

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
