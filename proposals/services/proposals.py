"""Calls and proposals: starting, drafting together, attachments, submission, withdrawal,
messages, and the workflow's transitions."""

import zoneinfo

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from smartjamp.uploads import DOCUMENTS, JPEG, PNG, check_upload, checked_file_name

from .. import audit as audit_trail
from .. import notifications
from ..models import (
    CITY_EDITABLE,
    CITY_FIELDS,
    Attachment,
    Call,
    City,
    Country,
    JapanesePartner,
    Message,
    Proposal,
    ProposalRevision,
    ProposalSnapshot,
    ReferenceSequence,
    Status,
    StatusChange,
    User,
    VerificationStatus,
)
from ..permissions import (
    is_city_lead,
    is_city_member,
    is_programme_staff,
    member_city_ids,
)
from .cities import delete_stored
from .transitions import check_transition

PROGRAMME_ZONE = zoneinfo.ZoneInfo(settings.PROGRAMME_TIME_ZONE)


class StaleProposal(Exception):
    """A save based on an older version changes fields that a colleague changed since."""

    def __init__(self, proposal: Proposal, conflicts: list[str]):
        super().__init__("The proposal was changed by someone else.")
        self.proposal = proposal
        self.conflicts = conflicts


def _city_refusals(
    call: Call, city: City, eligible_countries: set[str] | None = None, *, drafting: bool = False
) -> list[str]:
    """What about the city itself stops it from taking part in `call`.

    `eligible_countries` (ISO codes) spares a query when the caller already has them. With
    `drafting`, a city still being verified may draft (issue 18: its members start while staff
    check the letter); submitting always needs a verified city, a rejected one drafts nothing."""
    reasons = []
    if city.verification_status == VerificationStatus.REJECTED or (
        not drafting and not city.is_verified
    ):
        reasons.append(_("The city must be verified by programme staff first."))
    eligible = (
        city.country_id in eligible_countries
        if eligible_countries is not None
        else call.is_eligible(city)
    )
    if not eligible:
        reasons.append(
            _("Cities of %(country)s are not eligible for this call.") % {"country": city.country}
        )
    return reasons


def drafting_refusals_by_city(
    *, user: User, call: Call, cities, now=None, deadlines=None, member_of=None
) -> dict[int, list]:
    """Why `user` may not start a proposal in `call` for each of `cities` (by city id; an
    empty list where they may), in three queries however many cities there are (fewer when
    the caller has the `deadlines`, by city id, or has read the user's memberships itself:
    `member_of`, ids; for showing only, since starting a proposal checks again through
    `drafting_refusals`)."""
    now = now or timezone.now()
    cities = list(cities)
    if member_of is None:
        member_of = member_city_ids(user, cities)
    eligible = set(call.eligible_countries.values_list("pk", flat=True))
    if deadlines is None:
        deadlines = call.deadlines_for(cities)
    refusals = {}
    for city in cities:
        reasons = []
        if city.pk not in member_of:
            reasons.append(_("You are not a member of this city."))
        reasons += _city_refusals(call, city, eligible, drafting=True)
        if now >= deadlines[city.pk]:
            reasons.append(_("The call is closed."))
        refusals[city.pk] = reasons
    return refusals


def drafting_refusals(*, user: User, call: Call, city: City, now=None) -> list[str]:
    """Why `user` may not start a proposal for `city` in `call` (empty when they may)."""
    return drafting_refusals_by_city(user=user, call=call, cities=[city], now=now)[city.pk]


@transaction.atomic
def start_proposal(*, user: User, call: Call, city: City, title: str) -> Proposal:
    """Open a new draft for `city` in `call`."""
    reasons = drafting_refusals(user=user, call=call, city=city)
    if reasons:
        raise ValidationError(reasons)
    proposal = Proposal.objects.create(
        call=call,
        city=city,
        title=title,
        created_by=user,
        updated_by=user,
        # The one who starts it is the first contact; the profile has what it takes.
        contact_name=user.full_name,
        contact_email=user.email,
    )
    _keep_revision(proposal, user)
    return proposal


# What a draft started from an earlier proposal takes from it (copy_proposal): its texts and
# figures, but not its title's place (the same title, changeable), its contact (the one who
# copies it is), its planned start (passed, most likely) or its declaration (ticked anew).
COPIED_FIELDS = [
    name
    for name in CITY_FIELDS
    if name
    not in ("title", "contact_name", "contact_email", "contact_phone", "start_date", "declaration")
]


@transaction.atomic
def copy_proposal(
    *, user: User, source: Proposal, call: Call, with_attachments: bool = False
) -> Proposal:
    """A new draft in `call` for `source`'s city, started from `source` (any earlier proposal
    of the city): its texts, figures, focus areas, sectors and partners, and copies of its
    attachments if asked. The same rules as starting a draft (start_proposal)."""
    if not is_city_member(user, source.city):
        raise PermissionDenied
    proposal = start_proposal(user=user, call=call, city=source.city, title=source.title)
    for name in COPIED_FIELDS:
        setattr(proposal, name, getattr(source, name))
    proposal.focus_areas.set(source.focus_areas.all())
    proposal.sectors.set(source.sectors.all())
    JapanesePartner.objects.bulk_create(
        JapanesePartner(proposal=proposal, name=p.name, kind=p.kind, role=p.role)
        for p in source.partners.all()
    )
    stored = []
    try:
        for attachment in source.attachments.all() if with_attachments else []:
            copy = Attachment(
                proposal=proposal,
                kind=attachment.kind,
                name=attachment.name,
                content_type=attachment.content_type,
                size=attachment.size,
                uploaded_by=user,
            )
            with attachment.file.open("rb") as content:
                copy.file.save("upload", File(content), save=False)
            stored.append(copy.file.name)
            copy.save()
        proposal.copied_from = source
        proposal.version += 1
        proposal.save()  # last: the pages' cached copies follow its save
        _keep_revision(proposal, user)
    except BaseException:
        for name in stored:
            delete_stored(name)
        raise
    audit_trail.record(
        actor=user,
        action="proposal.copied",
        proposal=proposal,
        source=source.reference_code or source.code,
        attachments=len(stored),
    )
    return proposal


REVISIONS_KEPT = 50


def _comparable(values: dict, focus_areas, sectors, partners: list[dict]) -> dict:
    """A draft's content in a plain form that compares equal when it means the same."""
    result = {}
    for name in CITY_FIELDS:
        value = values.get(name)
        if name == "instruments":
            value = sorted(value or [])
        elif hasattr(value, "isoformat"):
            value = value.isoformat()
        elif value == "":
            value = None
        result[name] = value
    result["focus_areas"] = sorted(item.pk if hasattr(item, "pk") else item for item in focus_areas)
    result["sectors"] = sorted(item.pk if hasattr(item, "pk") else item for item in sectors)
    result["partners"] = [
        {"name": p["name"], "kind": p["kind"], "role": p["role"]} for p in partners
    ]
    return result


def draft_values(proposal: Proposal) -> dict:
    return _comparable(
        {name: getattr(proposal, name) for name in CITY_FIELDS},
        proposal.focus_areas.values_list("pk", flat=True),
        proposal.sectors.values_list("pk", flat=True),
        list(proposal.partners.values("name", "kind", "role")),
    )


def _keep_revision(proposal: Proposal, user: User) -> None:
    ProposalRevision.objects.create(
        proposal=proposal, version=proposal.version, values=draft_values(proposal), saved_by=user
    )
    ProposalRevision.objects.filter(
        proposal=proposal, version__lte=proposal.version - REVISIONS_KEPT
    ).delete()


@transaction.atomic
def save_draft(
    *,
    user: User,
    proposal: Proposal,
    base_version: int,
    values: dict,
    focus_areas,
    sectors,
    partners: list[dict],
) -> Proposal:
    """Save the city's edits to a draft.

    `base_version` is the version the official started from. If colleagues saved since, their
    changes are kept and only the fields this official changed are applied; a field changed
    differently on both sides refuses the save (StaleProposal names those fields), so nothing
    is overwritten silently. `values` holds only fields a city may set.
    """
    current = Proposal.objects.select_for_update().get(pk=proposal.pk)
    if not is_city_member(user, current.city):
        raise PermissionDenied
    if not current.is_editable:
        raise ValidationError(_("This proposal can no longer be edited."))
    mine = _comparable(values, focus_areas, sectors, partners)
    changed = set(mine)
    if current.version != base_version:
        base = ProposalRevision.objects.filter(proposal=current, version=base_version).first()
        theirs = draft_values(current)
        if base is None:  # too old to merge: every difference is a conflict
            conflicts = [name for name in mine if mine[name] != theirs[name]]
        else:
            changed = {name for name in mine if mine[name] != base.values.get(name)}
            conflicts = [
                name
                for name in mine
                if name in changed
                and theirs[name] != base.values.get(name)
                and mine[name] != theirs[name]
            ]
        if conflicts:
            raise StaleProposal(current, conflicts)
    if current.ready_at and mine != draft_values(current):
        _clear_ready(current)  # edited again: the lead is to look at the new text
    for field in CITY_FIELDS:
        if field in changed and field in values:
            setattr(current, field, values[field])
    current.version += 1
    current.updated_by = user
    current.save()
    if "focus_areas" in changed:
        current.focus_areas.set(focus_areas)
    if "sectors" in changed:
        current.sectors.set(sectors)
    if "partners" in changed:
        current.partners.all().delete()
        JapanesePartner.objects.bulk_create(
            JapanesePartner(proposal=current, **partner) for partner in partners
        )
    _keep_revision(current, user)
    return current


ATTACHMENT_TYPES = {**DOCUMENTS, PNG: "PNG", JPEG: "JPEG"}
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
MAX_ATTACHMENTS = 10


def add_attachment(
    *, user: User, proposal: Proposal, kind: str, upload: UploadedFile
) -> Attachment:
    """Attach a checked file to a draft (at most ten per proposal)."""
    content_type = check_upload(upload, allowed=ATTACHMENT_TYPES, max_bytes=MAX_ATTACHMENT_BYTES)
    stored_name = ""
    try:
        with transaction.atomic():
            current = Proposal.objects.select_for_update().get(pk=proposal.pk)
            if not is_city_member(user, current.city):
                raise PermissionDenied
            if not current.is_editable:
                raise ValidationError(_("This proposal can no longer be edited."))
            if current.attachments.count() >= MAX_ATTACHMENTS:
                raise ValidationError(
                    _("A proposal has at most %(count)d attachments. Remove one first.")
                    % {"count": MAX_ATTACHMENTS}
                )
            attachment = Attachment(
                proposal=current,
                kind=kind,
                name=checked_file_name(upload.name, content_type),
                content_type=content_type,
                size=upload.size,
                uploaded_by=user,
            )
            attachment.file.save("upload", upload, save=False)
            stored_name = attachment.file.name
            attachment.save()
            # A save (not a queryset update): its signal retires the cached pages showing
            # the proposal's last change (My proposals is ordered by it).
            current.updated_by = user
            current.save(update_fields=["updated_at", "updated_by"])
            _audit_attachment(user, "attachment.added", attachment)
    except BaseException:
        delete_stored(stored_name)
        raise
    return attachment


def delete_attachment(*, user: User, attachment: Attachment) -> None:
    with transaction.atomic():
        proposal = Proposal.objects.select_for_update().get(pk=attachment.proposal_id)
        if not is_city_member(user, proposal.city):
            raise PermissionDenied
        if not proposal.is_editable:
            raise ValidationError(_("This proposal can no longer be edited."))
        _audit_attachment(user, "attachment.deleted", attachment)
        attachment.delete()  # the stored file goes after commit (signals.delete_stored_files)


def audit_download(request, attachment: Attachment) -> None:
    """Record that the reader of `request` downloaded `attachment` (let through the gate)."""
    _audit_attachment(request.user, "download.attachment", attachment, request=request)


def _audit_attachment(user: User, action: str, attachment: Attachment, request=None) -> None:
    audit_trail.record(
        actor=user,
        action=action,
        proposal=attachment.proposal,
        request=request,
        attachment=attachment.code,
        name=attachment.name,
        kind=attachment.kind,
    )


status_changed = Signal()  # sent with `change` (a StatusChange) inside the transaction


def take_transition(
    proposal: Proposal, name: str, *, actor: User, message: str = "", public: bool = True
) -> StatusChange:
    """Take the workflow transition `name` declared on Proposal, and record it.

    Refuses (ValidationError) when the proposal's state does not allow it or one of the
    transition's conditions does not hold (the condition's docstring says why), and
    (PermissionDenied) when `actor` may not take it. The caller holds the proposal's row lock.
    """
    before = proposal.status
    refusal = _("This is not possible while the proposal is %(status)s.") % {
        "status": Status(before).label.lower()
    }
    check_transition(proposal, name, actor, refusal=refusal)()
    proposal.save()
    change = StatusChange.objects.create(
        proposal=proposal,
        from_status=before,
        to_status=proposal.status,
        actor=actor,
        message=message,
        is_public=public,
    )
    status_changed.send(sender=Proposal, change=change)
    return change


def _next_reference_code(country: Country, year: int) -> str:
    ReferenceSequence.objects.bulk_create(
        [ReferenceSequence(year=year, country=country)], ignore_conflicts=True
    )
    sequence = ReferenceSequence.objects.select_for_update().get(year=year, country=country)
    sequence.last += 1
    sequence.save(update_fields=["last"])
    return f"SJ-{year}-{country.iso2}-{sequence.last:04d}"


def submission_refusals(proposal: Proposal, *, now=None) -> list[str]:
    """Why the proposal cannot be submitted now (empty when it can)."""
    now = now or timezone.now()
    call, city = proposal.call, proposal.city
    reasons = _city_refusals(call, city)
    due_at = proposal.get_due_at()
    if proposal.status == Status.REVISION_REQUESTED:
        if due_at and now >= due_at:
            reasons.append(_("The deadline to resubmit has passed."))
    elif now < call.opens_at:
        reasons.append(_("The call is not open yet."))
    elif now >= due_at:
        reasons.append(_("The call closed; submissions are no longer accepted."))
    missing = proposal.missing_for_submission()
    if missing:
        reasons.append(
            _("The proposal is incomplete: %(missing)s.")
            % {"missing": "; ".join(f"{section}: {what}" for section, what in missing)}
        )
    taken = (
        Proposal.objects.filter(call=call, city=city)
        .taking_places()
        .exclude(pk=proposal.pk)
        .count()
    )
    if taken >= call.max_proposals_per_city:
        reasons.append(
            _("Your city has submitted the %(count)d proposals this call allows.")
            % {"count": call.max_proposals_per_city}
        )
    return reasons


def submit_proposal(*, user: User, proposal: Proposal, now=None) -> Proposal:
    """A lead submits the proposal: checks, reference code at first submission, snapshot.

    Submissions of one city queue on the city's row, so two racing for the last place, or a
    double-clicked submit, give exactly one result.
    """
    with transaction.atomic():
        City.objects.select_for_update().get(pk=proposal.city_id)
        current = (
            Proposal.objects.select_for_update()
            .select_related("call", "city__country")
            .get(pk=proposal.pk)
        )
        if not is_city_lead(user, current.city):
            raise PermissionDenied
        if current.status not in CITY_EDITABLE and current.status != Status.WITHDRAWN:
            raise AlreadySubmitted(current)
        reasons = submission_refusals(current, now=now)
        if reasons:
            raise ValidationError(reasons)
        now = now or timezone.now()
        if current.reference_code is None:
            year = timezone.localtime(now, PROGRAMME_ZONE).year
            current.reference_code = _next_reference_code(current.city.country, year)
        current.submitted_at = now
        current.version += 1
        current.updated_by = user
        _clear_ready(current)  # submitted: nothing is waiting for the lead any more
        resubmission = current.status == Status.REVISION_REQUESTED
        take_transition(
            current,
            "submit",
            actor=user,
            message=(
                gettext_noop("Resubmitted after revision.")
                if resubmission
                else gettext_noop("Submitted.")
            ),
        )
        ProposalSnapshot.objects.create(
            proposal=current,
            number=current.snapshots.count() + 1,
            data=proposal_snapshot(current),
            submitted_by=user,
        )
    return current


def _clear_ready(proposal: Proposal) -> None:
    """Forget an editor's "ready for the lead" (the caller saves the proposal)."""
    proposal.ready_at = None
    proposal.ready_by = None


@transaction.atomic
def mark_ready_for_lead(*, user: User, proposal: Proposal, now=None) -> Proposal:
    """An editor tells the city's leads that the draft is ready for them to check and submit.

    Recorded on the proposal until the draft is edited again or submitted; the leads hear of
    it once per version of the draft. Marking it again changes nothing."""
    current = Proposal.objects.select_for_update().select_related("city").get(pk=proposal.pk)
    if not is_city_member(user, current.city):
        raise PermissionDenied
    if not current.is_editable:
        raise ValidationError(_("This proposal can no longer be edited."))
    if is_city_lead(user, current.city):
        raise ValidationError(_("You are a lead of the city: you can submit the draft yourself."))
    if current.ready_at is None:
        current.ready_at = now or timezone.now()
        current.ready_by = user
        # Not a new version: a colleague's open form stays current.
        current.save(update_fields=["ready_at", "ready_by"])
        audit_trail.record(actor=user, action="proposal.marked_ready", proposal=current)
    notifications.draft_ready(current)
    return current


class AlreadySubmitted(Exception):
    def __init__(self, proposal: Proposal):
        super().__init__("Already submitted.")
        self.proposal = proposal


def proposal_snapshot(proposal: Proposal) -> dict:
    """The proposal's content as plain JSON, to keep each submitted version."""
    return {
        "title": proposal.title,
        "summary": proposal.summary,
        "problem": proposal.problem,
        "solution": proposal.solution,
        "focus_areas": sorted(proposal.focus_areas.values_list("code", flat=True)),
        "sectors": sorted(proposal.sectors.values_list("code", flat=True)),
        "outcomes": proposal.outcomes,
        "indicators": proposal.indicators,
        "start_date": proposal.start_date.isoformat() if proposal.start_date else None,
        "duration_months": proposal.duration_months,
        "timeline": proposal.timeline,
        "total_cost_jpy": proposal.total_cost_jpy,
        "requested_jpy": proposal.requested_jpy,
        "co_financing_jpy": proposal.co_financing_jpy,
        "co_financing_sources": proposal.co_financing_sources,
        "instruments": list(proposal.instruments),
        "contact_name": proposal.contact_name,
        "contact_email": proposal.contact_email,
        "contact_phone": proposal.contact_phone,
        "partners": list(proposal.partners.values("name", "kind", "role")),
        "attachments": list(proposal.attachments.values("kind", "name", "size")),
    }


@transaction.atomic
def withdraw_proposal(*, user: User, proposal: Proposal, reason: str) -> Proposal:
    """A lead withdraws the proposal before a decision; the reason is recorded."""
    reason = reason.strip()
    if not reason:
        raise ValidationError(_("Please give a reason for withdrawing."))
    current = Proposal.objects.select_for_update().get(pk=proposal.pk)
    take_transition(current, "withdraw", actor=user, message=reason)
    return current


@transaction.atomic
def post_message(*, user: User, proposal: Proposal, body: str) -> Message:
    """A clarification message from a city member or from programme staff."""
    body = body.strip()
    if not body:
        raise ValidationError(_("The message is empty."))
    member = is_city_member(user, proposal.city)
    staff = is_programme_staff(user)
    if not (member or staff):
        raise PermissionDenied
    message = Message.objects.create(
        proposal=proposal, author=user, body=body, from_staff=staff and not member
    )
    notifications.message_posted(message)
    return message
