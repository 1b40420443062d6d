"""Version numbers for cached fragments, and which saves bump which numbers (all of it here).

A fragment cached with Django's `{% cache %}` tag is keyed by the current numbers of what it
shows (`current`, one `get_many`): every save or delete of what it shows bumps a number
(`bump`), so the old copy is never read again. The tag's timeout is only a safety net: it
bounds how long a copy outlives a bump that was lost (Redis unreachable at the moment of the
change, see smartjamp/cache.py).

What is cached, and what each number stands for:

- `REPORTS`: the staff dashboard (its figures aggregate every proposal): proposals and all
  that the dashboard shows or filters by (reviews, scores, assignments, status changes,
  calls, extensions, criteria, cities, countries, sectors, focus areas).

Bulk inserts and queryset updates send no signal: code that changes these objects that way
bumps the numbers itself (the benchmark's data generator does).
"""

import time

from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

REPORTS = "versions:reports"


def _fresh() -> int:
    # For a number the cache does not hold (lost, evicted, never set): larger than any it
    # can have held (microseconds of the clock), so a copy keyed by an old number is not hit.
    return time.time_ns() // 1_000


def current(*keys: str) -> list[int]:
    """The current numbers of `keys`, read in one round trip (as one `{% cache %}` argument)."""
    found = cache.get_many(keys)
    return [found[key] if key in found else cache.get_or_set(key, _fresh, None) for key in keys]


def _bump_now(keys) -> None:
    for key in keys:
        try:
            cache.incr(key)
        except ValueError:  # not held: a fresh number
            cache.set(key, _fresh(), None)


def bump(*keys: str) -> None:
    """New numbers for `keys`: at once, and again after commit (a request may read the old
    rows during the transaction and cache them under the number bumped at once)."""
    _bump_now(keys)
    transaction.on_commit(lambda: _bump_now(keys))


def _reports_changed(sender, **kwargs) -> None:
    bump(REPORTS)


def connect() -> None:
    from proposals.models import (
        Call,
        City,
        Country,
        DeadlineExtension,
        FocusArea,
        Proposal,
        Review,
        ReviewAssignment,
        RubricCriterion,
        Score,
        Sector,
        StatusChange,
    )

    for model in (
        Proposal,
        ReviewAssignment,
        Review,
        Score,
        StatusChange,
        Call,
        DeadlineExtension,
        RubricCriterion,
        City,
        Country,
        Sector,
        FocusArea,
    ):
        for signal in (post_save, post_delete):
            signal.connect(
                _reports_changed,
                sender=model,
                dispatch_uid=f"versions-reports-{model.__name__}-{signal is post_save}",
            )
    for through in (
        Proposal.sectors.through,
        Proposal.focus_areas.through,
        Call.eligible_countries.through,
    ):
        m2m_changed.connect(
            _reports_changed, sender=through, dispatch_uid=f"versions-reports-{through.__name__}"
        )
