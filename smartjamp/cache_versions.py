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

- `PORTFOLIO`, with `REPORTS` (its funnel counts proposals): the staff portfolio: projects,
  deliverables, financing tracks, facilities and desk requests.

- `CALLS`: the calls as every reader sees them (the call list's rows, a call page's
  description, rubric and eligible countries, the call titles on My proposals): calls,
  criteria, countries and the calls' eligible countries.
- `proposal(pk)`: a proposal page as its city's members see it (summary, attachments, the
  thread and the public history): the proposal and its status changes, messages,
  attachments, partners, focus areas and sectors, its evaluation summaries (whose saves
  follow their criteria's: services.write_evaluation_summary), and the names of the thread's
  authors.
- `city_deadlines(pk)`: the call list as the members whose home city it is see it: its
  deadline extensions.
- `city_proposals(pk)`: a city's proposals as every member sees them on My proposals: its
  proposals (status, title, order by the last change), its name and its deadline extensions.
- `PUBLIC_PROJECTS`: the public page of selected projects and each published project's public
  page (proposals/views/public_projects.py), the same for every reader: projects (published or
  not, their public summary, stage, fiscal year, consultant), the titles and cities of approved
  proposals (the only ones with a project), their focus areas, cities, countries and focus
  area names. Unpublishing a project bumps it, so no copy showing it is read again.

Bulk inserts and queryset updates send no signal: code that changes these objects that way
bumps the numbers itself (the benchmark's data generator does).
"""

import time

from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete

REPORTS = "versions:reports"
CALLS = "versions:calls"
PUBLIC_PROJECTS = "versions:public-projects"
PORTFOLIO = "versions:portfolio"


def proposal(pk) -> str:
    return f"versions:proposal:{pk}"


def city_proposals(pk) -> str:
    return f"versions:city-proposals:{pk}"


def city_deadlines(pk) -> str:
    return f"versions:city-deadlines:{pk}"


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


def _portfolio_changed(sender, **kwargs) -> None:
    bump(PORTFOLIO)


def _calls_changed(sender, **kwargs) -> None:
    bump(CALLS)


def _proposal_changed(sender, instance, **kwargs) -> None:
    bump(proposal(instance.pk), city_proposals(instance.city_id))


def _part_of_proposal_changed(sender, instance, **kwargs) -> None:
    # A status change, message, attachment or partner: shown on its proposal's page.
    bump(proposal(instance.proposal_id))


def _proposal_tags_changed(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    if not action.startswith("post_"):
        return
    if not reverse:  # proposal.sectors.add(...)
        bump(proposal(instance.pk))
    elif pk_set:  # sector.proposals.add(...)
        bump(*(proposal(pk) for pk in pk_set))
    else:  # sector.proposals.clear(): which proposals it had is gone; the tag is their text
        from proposals.models import Proposal

        bump(*(proposal(pk) for pk in Proposal.objects.values_list("pk", flat=True)))


def _public_projects_changed(sender, **kwargs) -> None:
    bump(PUBLIC_PROJECTS)


def _project_proposal_changed(sender, instance, **kwargs) -> None:
    # Only an approved proposal has a project: a draft's saves leave the public pages alone.
    from proposals.models import Status

    if instance.status == Status.APPROVED:
        bump(PUBLIC_PROJECTS)


def _project_focus_areas_changed(sender, instance, action, reverse, **kwargs) -> None:
    if not action.startswith("post_"):
        return
    from proposals.models import Status

    if reverse or instance.status == Status.APPROVED:  # focus_area.proposals.add(...): any
        bump(PUBLIC_PROJECTS)


def _city_changed(sender, instance, **kwargs) -> None:
    bump(city_proposals(instance.pk))


def _extension_changed(sender, instance, **kwargs) -> None:
    bump(city_proposals(instance.city_id), city_deadlines(instance.city_id))


def _user_changed(sender, instance, update_fields=None, **kwargs) -> None:
    # Their name or email, shown as the author of their messages (a sign-in saves only
    # last_login, which no page shows).
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return
    from proposals.models import Message

    proposals = Message.objects.filter(author=instance).values_list("proposal_id", flat=True)
    keys = [proposal(pk) for pk in set(proposals)]
    if keys:
        bump(*keys)


def connect() -> None:
    from proposals.models import (
        Attachment,
        Call,
        City,
        Country,
        DeadlineExtension,
        Deliverable,
        DeskRequest,
        EvaluationSummary,
        Facility,
        FinancingTrack,
        FocusArea,
        JapanesePartner,
        Message,
        Project,
        Proposal,
        Review,
        ReviewAssignment,
        RubricCriterion,
        Score,
        Sector,
        StatusChange,
        User,
    )

    receivers = [
        (_calls_changed, (Call, RubricCriterion, Country)),
        (_proposal_changed, (Proposal,)),
        (
            _part_of_proposal_changed,
            (StatusChange, Message, Attachment, JapanesePartner, EvaluationSummary),
        ),
        (_city_changed, (City,)),
        (_extension_changed, (DeadlineExtension,)),
        (_public_projects_changed, (Project, City, Country, FocusArea)),
        (_project_proposal_changed, (Proposal,)),
        (_portfolio_changed, (Project, Deliverable, FinancingTrack, Facility, DeskRequest)),
    ]
    for receiver, models in receivers:
        for model in models:
            for signal in (post_save, post_delete):
                signal.connect(
                    receiver,
                    sender=model,
                    dispatch_uid=f"versions-{receiver.__name__}-{model.__name__}-{signal is post_save}",
                )
    # Before a deletion, while the user's messages still name them as their author.
    for signal in (post_save, pre_delete):
        signal.connect(
            _user_changed, sender=User, dispatch_uid=f"versions-user-{signal is post_save}"
        )
    m2m_changed.connect(
        _calls_changed,
        sender=Call.eligible_countries.through,
        dispatch_uid="versions-calls-eligible-countries",
    )
    for through in (Proposal.sectors.through, Proposal.focus_areas.through):
        m2m_changed.connect(
            _proposal_tags_changed, sender=through, dispatch_uid=f"versions-tags-{through.__name__}"
        )
    m2m_changed.connect(
        _project_focus_areas_changed,
        sender=Proposal.focus_areas.through,
        dispatch_uid="versions-public-projects-focus-areas",
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
