"""Parts of the portal's most visited pages, cached until what they show changes.

A part is cached under the current numbers of the versioned keys it depends on (see
`proposals.cache`), so that a change makes the old copy unreachable at once, and under what
it varies by (language, time zone, who reads). Every save or delete that can change a part
bumps its keys, at once and again after commit (a request may have read the old rows during
the transaction). Parts whose content changes with the clock (a call opening or closing)
carry the instant until which they hold. Every part also depends on the cache's epoch, bumped
when writes to the cache were lost (`proposals.cache`). The timeout is only a safety net.

The keys:

- `CALLS`: calls, their deadline extensions, scoring criteria and eligible countries, and
  the reference data pages name (countries, sectors and focus areas);
- `PEOPLE`: the names shown beside messages and history (a user's name or email changing);
- `member_key(user)`: what an official's own lists show, the proposals of their cities;
- `proposal_key(proposal)`: a proposal's page: the proposal, its history, messages,
  attachments, partners, focus areas and sectors;
- `city_key(city)`: what pages show of a city itself (its name on its proposals' pages).

Bulk inserts and queryset updates send no signal: code that changes these objects that way
must bump the keys itself (the data generator of the benchmark runs before any page).
"""

import datetime
from collections.abc import Callable, Iterable

from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.middleware.csrf import get_token
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import get_language

from .cache import Slot, bump_version

CALLS = "pages:calls"
PEOPLE = "pages:people"
PART_SECONDS = 600


def member_key(user_id) -> str:
    return f"pages:member:{user_id}"


def city_key(city_id) -> str:
    return f"pages:city:{city_id}"


def proposal_key(proposal_id) -> str:
    return f"pages:proposal:{proposal_id}"


def reader_keys(user) -> list[str]:
    """What a page about calls depends on for `user`: the calls, and for a signed-in reader
    their own key (their cities, memberships and their cities' proposals)."""
    if not user.is_authenticated:
        return [CALLS]
    return [CALLS, member_key(user.pk)]


def member_city_ids(user) -> list[int]:
    """The cities `user` is a member of now (none for a visitor), for keys of parts that show
    a city's proposals: one small query, which makes leaving a city take effect at once."""
    if not user.is_authenticated:
        return []
    from .models import CityMembership

    return list(
        CityMembership.objects.filter(user=user.pk).order_by("city").values_list("city", flat=True)
    )


def part_slot(name: str, depends_on: list[str], vary_on: Iterable = ()) -> Slot:
    """The place in the cache of a page's part, which also varies by the reader's language and
    time zone."""
    return Slot(
        name,
        depends_on,
        [get_language() or "", timezone.get_current_timezone_name(), *vary_on],
    )


def cached_part(
    name: str,
    *,
    depends_on: list[str],
    vary_on: Iterable = (),
    build: Callable[[], tuple[object, datetime.datetime | None]],
):
    """What `build()` returns (a value and the instant it holds until, or None), cached per
    language and time zone of the reader, `vary_on` and the keys it `depends_on` (see
    `proposals.cache.Slot`). A value of None is not cached."""
    slot = part_slot(name, depends_on, vary_on)
    if slot.hit:
        return slot.value
    value, valid_until = build()
    if value is not None:  # nothing to show (an unknown call) is not kept: anybody can ask
        slot.store(value, valid_until, seconds=PART_SECONDS)
    return value


# Where a cached part holds a form, the template writes this mark instead of the CSRF token
# (`{{ csrf_input }}`), and each request writes its reader's own token in its place: a token
# must never be served to another reader. Nothing typed by a user can pose as the mark: the
# templates escape what users type, and escaped text holds no "<".
CSRF_INPUT_HOLE = mark_safe("<csrf-input-hole>")  # noqa: S308


def with_csrf_token(html: str, request) -> str:
    """A cached part's HTML with the reader's CSRF token in each of its forms."""
    if CSRF_INPUT_HOLE not in html:
        return html
    token = format_html(
        '<input type="hidden" name="csrfmiddlewaretoken" value="{}">', get_token(request)
    )
    return mark_safe(html.replace(CSRF_INPUT_HOLE, token))  # noqa: S308


def bump(*keys: str) -> None:
    for key in keys:
        bump_version(key)
    # Again after commit: a request may have read the old rows during the transaction and
    # cached them under the number bumped just now.
    transaction.on_commit(lambda: [bump_version(key) for key in keys])


def _members_of(city_ids) -> list[str]:
    from .models import CityMembership

    return [
        member_key(user_id)
        for user_id in CityMembership.objects.filter(city_id__in=city_ids).values_list(
            "user_id", flat=True
        )
    ]


def _calls_changed(sender, **kwargs) -> None:
    bump(CALLS)


def _proposal_changed(sender, instance, **kwargs) -> None:
    bump(proposal_key(instance.pk), *_members_of([instance.city_id]))


def _proposal_part_changed(sender, instance, **kwargs) -> None:
    bump(proposal_key(instance.proposal_id))


def _proposal_links_changed(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    if not action.startswith("post_"):
        return
    if reverse:  # from a sector's or focus area's side: which proposals is not always known
        bump(CALLS)
    else:
        bump(proposal_key(instance.pk))


def _membership_changed(sender, instance, **kwargs) -> None:
    bump(member_key(instance.user_id))


def _city_changed(sender, instance, **kwargs) -> None:
    bump(city_key(instance.pk), *_members_of([instance.pk]))


def _user_changed(sender, instance, update_fields=None, **kwargs) -> None:
    # Signing in saves the user's last_login alone, which no cached part shows.
    if update_fields is None or {"full_name", "email"} & set(update_fields):
        bump(PEOPLE)


def connect() -> None:
    from .models import (
        Attachment,
        Call,
        City,
        CityMembership,
        Country,
        DeadlineExtension,
        FocusArea,
        JapanesePartner,
        Message,
        Proposal,
        RubricCriterion,
        Sector,
        StatusChange,
        User,
    )

    def on_save_and_delete(receiver, model) -> None:
        for signal in (post_save, post_delete):
            signal.connect(
                receiver,
                sender=model,
                dispatch_uid=f"pages-{model.__name__}-{signal is post_save}",
            )

    for model in (Call, DeadlineExtension, RubricCriterion, Country, Sector, FocusArea):
        on_save_and_delete(_calls_changed, model)
    m2m_changed.connect(
        _calls_changed, sender=Call.eligible_countries.through, dispatch_uid="pages-call-countries"
    )
    on_save_and_delete(_proposal_changed, Proposal)
    for model in (StatusChange, Message, Attachment, JapanesePartner):
        on_save_and_delete(_proposal_part_changed, model)
    for through in (Proposal.sectors.through, Proposal.focus_areas.through):
        m2m_changed.connect(
            _proposal_links_changed, sender=through, dispatch_uid=f"pages-{through.__name__}"
        )
    on_save_and_delete(_membership_changed, CityMembership)
    on_save_and_delete(_city_changed, City)
    on_save_and_delete(_user_changed, User)
