import math
import statistics
from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from proposals import scoring
from proposals.models import Call, Proposal, Review
from proposals.roles import REVIEWERS

from .conftest import in_group
from .factories import UserFactory, make_proposal, review, under_review

weights = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100"), places=2)
scores = st.integers(min_value=1, max_value=5)
pairs = st.lists(st.tuples(weights, scores), min_size=1, max_size=12)


def test_weighted_score_is_the_weighted_mean():
    assert scoring.weighted_score([(3, 5), (2, 2), (1, 1)]) == pytest.approx((15 + 4 + 1) / 6)


def test_weighted_score_refuses_zero_weights():
    with pytest.raises(ValueError):
        scoring.weighted_score([(0, 3)])


@given(pairs)
def test_weighted_score_lies_between_the_lowest_and_highest_score(pairs):
    result = scoring.weighted_score(pairs)
    values = [score for _weight, score in pairs]
    assert min(values) - 1e-9 <= result <= max(values) + 1e-9


@given(pairs, st.decimals(min_value=Decimal("0.1"), max_value=Decimal("50"), places=1))
def test_weighted_score_does_not_change_when_all_weights_scale(pairs, factor):
    scaled = [(weight * factor, score) for weight, score in pairs]
    assert math.isclose(scoring.weighted_score(pairs), scoring.weighted_score(scaled), rel_tol=1e-9)


@given(st.lists(scores, min_size=1, max_size=6), scores)
def test_weighted_score_with_equal_weights_is_the_plain_mean(values, _unused):
    assert math.isclose(
        scoring.weighted_score([(Decimal(1), v) for v in values]), sum(values) / len(values)
    )


def test_normalised_scores_combine_by_mean_or_median():
    assert scoring.combine([1.0, 2.0, 4.5], "mean") == pytest.approx(2.5)
    assert scoring.combine([1.0, 2.0, 4.5], "median") == 2.0
    assert scoring.combine([1.0, 2.0, 4.0, 5.0], "median") == 3.0
    assert scoring.combine([], "mean") is None


def test_z_scores():
    assert scoring.z_scores([2.0, 4.0]) == [-1.0, 1.0]
    assert scoring.z_scores([3.0, 3.0, 3.0]) == [0.0, 0.0, 0.0]
    assert scoring.z_scores([4.2]) == [0.0]


@given(st.lists(st.floats(min_value=1, max_value=5), min_size=2, max_size=20))
@example([1.0, 1.0000000000000002])  # a tie up to rounding error: found by hypothesis
def test_z_scores_have_mean_zero(values):
    assert abs(sum(scoring.z_scores(values))) < 1e-6


def test_reviewers_disagree_above_a_spread_of_one_and_a_half():
    proposal = Proposal()
    for spread, disagree in [(None, False), (1.5, False), (1.6, True)]:
        proposal.score_spread = spread
        assert proposal.reviewers_disagree is disagree


@pytest.mark.django_db
@pytest.mark.parametrize(
    "weighted",
    [
        [],
        [4.2],
        [5.0, 2.6],
        [1.0, 2.0, 9.0],
        [2.0, 2.0, 2.0, 4.6],
        [1.0, 4.6, 4.6, 4.6],
        [1.0, 1.0, 1.0, 3.0, 3.0, 5.0],
        [3.0, 1.0, 4.0, 1.0, 5.0, 4.6, 2.0],
    ],
)
def test_the_score_is_the_mean_or_median_of_the_submitted_reviews(
    weighted, call, danang, danang_lead, staff
):
    proposal = under_review(make_proposal(call, danang, danang_lead), lead=danang_lead, staff=staff)
    for n, value in enumerate(weighted):
        reviewer = in_group(UserFactory(email=f"r{n}@example.org", is_staff=True), REVIEWERS)
        assignment = review(proposal, reviewer, [1, 1], staff=staff)
        Review.objects.filter(assignment=assignment).update(weighted_score=value)
    # A draft review does not count.
    draft = in_group(UserFactory(email="draft@example.org", is_staff=True), REVIEWERS)
    review(proposal, draft, [5, 5], staff=staff, submit=False)

    def scored():
        return Proposal.objects.with_scores().get(pk=proposal.pk)

    spread = max(weighted) - min(weighted) if weighted else None
    mean = statistics.fmean(weighted) if weighted else None
    assert (scored().review_count, scored().score_spread) == (len(weighted), spread)
    assert scored().score == pytest.approx(mean)
    Call.objects.filter(pk=call.pk).update(score_aggregation="median")
    median = statistics.median(weighted) if weighted else None
    assert scored().score == pytest.approx(median)
