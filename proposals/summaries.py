"""Proposal summaries: the names and review scores that reports show, built ahead.

An export of every proposal would otherwise aggregate their focus areas, sectors, partners and
reviews each time (most of its cost). A `ProposalSummary` holds them, with two counters:

- `touch()` bumps `version` in the same transaction as every change to what it summarises
  (signals below, and the few bulk writes that send none: save_draft's partners, reweighing;
  a data migration that changes them must call it too: historical models send no signals);
- `build()` (the beat task `build_summaries`, and after bulk loads) reads the versions, then the
  rows, and stores the values with the version it read as `built_version`.

A summary holds only while the two are equal. Readers (reports.EXPORT_SQL) compute the values
themselves for any proposal whose summary does not hold, so a late summary costs time, never
correctness: a change committed while a summary is built leaves it behind its version.
"""

from collections import defaultdict

from django.db.models import Avg, Count, F, Max, Min
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete

from .models import (
    FocusArea,
    JapanesePartner,
    Proposal,
    ProposalSummary,
    Review,
    Sector,
)

BATCH = 2000
BUILT_FIELDS = [
    "built_version",
    "focus_areas",
    "sectors",
    "partners",
    "reviews",
    "mean_score",
    "low_score",
    "high_score",
]


def touch(**proposal_lookup) -> None:
    """The summaries of the proposals matching `proposal_lookup` no longer hold."""
    ProposalSummary.objects.filter(
        **{f"proposal__{key}": value for key, value in proposal_lookup.items()}
    ).update(version=F("version") + 1)


def create_missing() -> None:
    """An (unbuilt) summary for every proposal without one, such as bulk-created ones."""
    missing = Proposal.objects.filter(report_summary__isnull=True).values_list("pk", flat=True)
    ProposalSummary.objects.bulk_create(
        [ProposalSummary(proposal_id=pk) for pk in missing], ignore_conflicts=True, batch_size=1000
    )


def join_names(names) -> str:
    """Names as a summary holds them and exports show them: sorted, joined by "; "."""
    return "; ".join(sorted(names))


def _names(rows) -> dict[int, str]:
    grouped: dict[int, list[str]] = defaultdict(list)
    for proposal_id, name in rows:
        grouped[proposal_id].append(name)
    return {proposal_id: join_names(names) for proposal_id, names in grouped.items()}


def build(limit: int = 100_000) -> int:
    """Build up to `limit` summaries that do not hold, in batches; returns how many."""
    built = 0
    while built < limit:
        # The versions first, then the rows: a change committed in between leaves the
        # summary built from newer rows than its version says, which is merely built again.
        pending = dict(
            ProposalSummary.objects.exclude(built_version=F("version"))
            .order_by("proposal_id")  # upserted (and locked) in one order
            .values_list("proposal_id", "version")[: min(BATCH, limit - built)]
        )
        if not pending:
            break
        ids = list(pending)
        focus = _names(
            Proposal.focus_areas.through.objects.filter(proposal_id__in=ids).values_list(
                "proposal_id", "focusarea__name"
            )
        )
        sectors = _names(
            Proposal.sectors.through.objects.filter(proposal_id__in=ids).values_list(
                "proposal_id", "sector__name"
            )
        )
        partners = _names(
            JapanesePartner.objects.filter(proposal_id__in=ids).values_list("proposal_id", "name")
        )
        scores = {
            row["assignment__proposal"]: row
            for row in Review.objects.filter(
                assignment__proposal__in=ids,
                submitted_at__isnull=False,
                weighted_score__isnull=False,
            )
            .order_by()
            .values("assignment__proposal")
            .annotate(
                n=Count("pk"),
                mean=Avg("weighted_score"),
                low=Min("weighted_score"),
                high=Max("weighted_score"),
            )
        }
        summaries = []
        for proposal_id, version in pending.items():
            score = scores.get(proposal_id, {})
            summaries.append(
                ProposalSummary(
                    proposal_id=proposal_id,
                    built_version=version,
                    focus_areas=focus.get(proposal_id, ""),
                    sectors=sectors.get(proposal_id, ""),
                    partners=partners.get(proposal_id, ""),
                    reviews=score.get("n", 0),
                    mean_score=score.get("mean"),
                    low_score=score.get("low"),
                    high_score=score.get("high"),
                )
            )
        # An upsert (INSERT ... ON CONFLICT DO UPDATE) of the built fields, not `version`:
        # linear, where bulk_update's CASE per field grows with the square of the batch.
        ProposalSummary.objects.bulk_create(
            summaries,
            update_conflicts=True,
            unique_fields=["proposal"],
            update_fields=BUILT_FIELDS,
            batch_size=500,
        )
        built += len(summaries)
    return built


# What changes a summary ------------------------------------------------------------------------


def _proposal_saved(sender, instance, created=False, **kwargs) -> None:
    if created:
        ProposalSummary.objects.bulk_create(
            [ProposalSummary(proposal_id=instance.pk)], ignore_conflicts=True
        )


# The proposal's links that a summary names, by the linked model.
_LINKED = {FocusArea: "focus_areas", Sector: "sectors"}


def _names_changed(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    """A proposal's focus areas or sectors, changed from either side."""
    if action not in ("post_add", "post_remove", "pre_clear"):
        return
    if not reverse:
        touch(pk=instance.pk)
    elif action == "pre_clear":  # the area or sector loses all its proposals
        touch(**{_LINKED[type(instance)]: instance})
    else:
        touch(pk__in=pk_set)


# Fixtures (raw saves) bump too: touching only writes a counter.


def _renamed_or_deleted(sender, instance, **kwargs) -> None:
    # Before a delete: its links go by cascade, which sends no m2m_changed.
    touch(**{_LINKED[sender]: instance})


def _partner_changed(sender, instance, **kwargs) -> None:
    touch(pk=instance.proposal_id)


def _review_changed(sender, instance, **kwargs) -> None:
    touch(assignments=instance.assignment_id)


def connect() -> None:
    post_save.connect(_proposal_saved, sender=Proposal, dispatch_uid="summary-proposal")
    for model, link in _LINKED.items():
        through = getattr(Proposal, link).through
        m2m_changed.connect(_names_changed, sender=through, dispatch_uid=f"summary-{through}")
        for signal in (post_save, pre_delete):
            signal.connect(
                _renamed_or_deleted,
                sender=model,
                dispatch_uid=f"summary-{model.__name__}-{signal is post_save}",
            )
    for signal in (post_save, post_delete):
        key = signal is post_save
        signal.connect(_partner_changed, sender=JapanesePartner, dispatch_uid=f"summary-jp-{key}")
        signal.connect(_review_changed, sender=Review, dispatch_uid=f"summary-review-{key}")
    # An assignment deleted with its review needs nothing more: the review's post_delete is
    # sent before the assignment's row goes, and touches the proposal.
