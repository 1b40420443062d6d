"""Changes that touch several rows or have side effects.

Views, the admin, commands and tasks all call these functions; none of them writes a status
field itself. Each takes the acting user, checks that the user may act, and runs in one
transaction.
"""

import zoneinfo

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext as _
from django_fsm import can_proceed

from . import audit as audit_trail
from . import notifications, scoring, summaries
from .models import (
    CITY_EDITABLE,
    CITY_FIELDS,
    ELIGIBILITY_CHECKS,
    AssignmentState,
    Attachment,
    AuditEvent,
    Call,
    City,
    CityMembership,
    Country,
    JapanesePartner,
    JoinRequest,
    JoinRequestStatus,
    MemberRole,
    Message,
    Proposal,
    ProposalSnapshot,
    ReferenceSequence,
    Review,
    ReviewAssignment,
    Score,
    Status,
    StatusChange,
    User,
    VerificationStatus,
    normalise_name,
)
from .permissions import (
    can_manage_city,
    is_city_lead,
    is_city_member,
    is_programme_staff,
    member_city_ids,
)
from .uploads import check_upload, checked_file_name

PROGRAMME_ZONE = zoneinfo.ZoneInfo(settings.PROGRAMME_TIME_ZONE)


class DuplicateCity(Exception):
    """The city is registered already; the official may ask to join it instead."""

    def __init__(self, city: City):
        super().__init__(f"{city} is registered already.")
        self.city = city


def register_city(
    *,
    user: User,
    country: Country,
    name: str,
    kind: str,
    region: str = "",
    population: int | None = None,
    time_zone: str = "",
    letter: UploadedFile,
    letter_name: str,
) -> City:
    """Register a city for staff verification, with `user` as its lead.

    A city of the ASCN reference list that nobody has registered yet is claimed (it keeps its
    network status); a city that is registered already raises DuplicateCity, and nothing is
    stored.
    """
    stored_name = ""
    try:
        with transaction.atomic():
            key = normalise_name(name)
            city = City.objects.select_for_update().filter(country=country, name_key=key).first()
            if city is not None and City.objects.claimed().filter(pk=city.pk).exists():
                raise DuplicateCity(city)
            if city is None:
                city = City(country=country, name=name)
            city.kind = kind
            city.region = region
            city.population = population
            city.time_zone = time_zone or country.time_zone
            city.verification_status = VerificationStatus.PENDING
            city.rejection_reason = ""
            city.registered_by = user
            city.registered_at = timezone.now()
            city.letter_name = letter_name
            city.authorisation_letter.save(letter_name, letter, save=False)
            stored_name = city.authorisation_letter.name
            city.save()
            CityMembership.objects.create(city=city, user=user, role=MemberRole.LEAD)
            audit(actor=user, action="city.registered", city=city, letter=letter_name)
    except IntegrityError:
        # Another official registered the same city at the same moment.
        _delete_stored(stored_name)
        raise DuplicateCity(City.objects.get(country=country, name_key=key)) from None
    except BaseException:
        _delete_stored(stored_name)
        raise
    return city


def _delete_stored(name: str) -> None:
    if name:
        from django.core.files.storage import default_storage

        default_storage.delete(name)


@transaction.atomic
def request_to_join(*, user: User, city: City, message: str = "") -> JoinRequest:
    """Ask to become an editor of `city`; asking twice returns the pending request."""
    if city.memberships.filter(user=user).exists():
        raise ValidationError(_("You are a member of %(city)s already.") % {"city": city.name})
    pending = JoinRequest.objects.filter(city=city, user=user, status=JoinRequestStatus.PENDING)
    if existing := pending.first():
        return existing
    try:
        with transaction.atomic():
            join_request = JoinRequest.objects.create(city=city, user=user, message=message)
            audit(actor=user, action="join_request.sent", city=city, user=user)
    except IntegrityError:  # the same request, posted twice at once
        return pending.get()
    notifications.join_requested(join_request)
    return join_request


@transaction.atomic
def decide_join_request(*, actor: User, join_request: JoinRequest, approve: bool) -> JoinRequest:
    """Approve (the requester becomes an editor) or decline a join request."""
    join_request = JoinRequest.objects.select_for_update().get(pk=join_request.pk)
    if not can_manage_city(actor, join_request.city):
        raise PermissionDenied
    if join_request.status != JoinRequestStatus.PENDING:
        raise ValidationError(_("This request has been answered already."))
    join_request.status = JoinRequestStatus.APPROVED if approve else JoinRequestStatus.DECLINED
    join_request.decided_by = actor
    join_request.decided_at = timezone.now()
    join_request.save(update_fields=["status", "decided_by", "decided_at"])
    if approve:
        CityMembership.objects.get_or_create(
            city=join_request.city, user=join_request.user, defaults={"role": MemberRole.EDITOR}
        )
    audit(
        actor=actor,
        action=f"join_request.{join_request.status}",
        city=join_request.city,
        user=join_request.user,
    )
    notifications.join_answered(join_request)
    return join_request


def _require_verifier(actor: User) -> None:
    if not actor.has_perm("proposals.verify_city"):
        raise PermissionDenied


@transaction.atomic
def verify_city(*, actor: User, city: City) -> City:
    """Staff confirm that the city's officials hold a mandate (their letter was checked)."""
    _require_verifier(actor)
    city = City.objects.select_for_update().get(pk=city.pk)
    city.verification_status = VerificationStatus.VERIFIED
    city.rejection_reason = ""
    city.decided_by = actor
    city.decided_at = timezone.now()
    city.save(update_fields=["verification_status", "rejection_reason", "decided_by", "decided_at"])
    audit(actor=actor, action="city.verified", city=city)
    notifications.city_decided(city)
    return city


@transaction.atomic
def reject_city(*, actor: User, city: City, reason: str) -> City:
    """Staff reject a city's registration; the reason is shown to its members."""
    _require_verifier(actor)
    reason = reason.strip()
    if not reason:
        raise ValidationError(_("A reason is required to reject a city."))
    city = City.objects.select_for_update().get(pk=city.pk)
    city.verification_status = VerificationStatus.REJECTED
    city.rejection_reason = reason
    city.decided_by = actor
    city.decided_at = timezone.now()
    city.save(update_fields=["verification_status", "rejection_reason", "decided_by", "decided_at"])
    audit(actor=actor, action="city.rejected", city=city, reason=reason)
    notifications.city_decided(city)
    return city


def _lock_leads(city: City) -> list[CityMembership]:
    return list(CityMembership.objects.select_for_update().filter(city=city, role=MemberRole.LEAD))


@transaction.atomic
def change_member_role(*, actor: User, membership: CityMembership, role: str) -> CityMembership:
    """A lead (or staff) makes a member a lead or an editor; a city keeps at least one lead."""
    if not can_manage_city(actor, membership.city):
        raise PermissionDenied
    if role not in MemberRole.values:
        raise ValidationError(_("Unknown role."))
    leads = _lock_leads(membership.city)
    membership = CityMembership.objects.select_for_update().get(pk=membership.pk)
    if membership.role == MemberRole.LEAD and role != MemberRole.LEAD and len(leads) <= 1:
        raise ValidationError(
            _("A city must keep at least one lead. Make another member lead first.")
        )
    previous, membership.role = membership.role, role
    membership.save(update_fields=["role"])
    audit(
        actor=actor,
        action="member.role_changed",
        city=membership.city,
        user=membership.user,
        **{"from": previous, "to": role},
    )
    return membership


@transaction.atomic
def remove_member(*, actor: User, membership: CityMembership) -> None:
    """A lead (or staff) removes a member, or a member leaves; the last lead cannot go."""
    if actor != membership.user and not can_manage_city(actor, membership.city):
        raise PermissionDenied
    leads = _lock_leads(membership.city)
    membership = CityMembership.objects.select_for_update().get(pk=membership.pk)
    if membership.role == MemberRole.LEAD and len(leads) <= 1:
        raise ValidationError(
            _("A city must keep at least one lead. Make another member lead first.")
        )
    membership.delete()
    audit(
        actor=actor,
        action="member.removed",
        city=membership.city,
        user=membership.user,
        role=membership.role,
    )


# Calls and proposals ------------------------------------------------------------------------


class StaleProposal(Exception):
    """A save based on an older version changes fields that a colleague changed since."""

    def __init__(self, proposal: Proposal, conflicts: list[str]):
        super().__init__("The proposal was changed by someone else.")
        self.proposal = proposal
        self.conflicts = conflicts


def _city_refusals(call: Call, city: City, eligible_countries: set[str] | None = None) -> list[str]:
    """What about the city itself stops it from taking part in `call`.

    `eligible_countries` (ISO codes) spares a query when the caller already has them."""
    reasons = []
    if not city.is_verified:
        reasons.append(_("The city must be verified by programme staff first."))
    eligible = (
        city.country_id in eligible_countries
        if eligible_countries is not None
        else call.is_eligible(city)
    )
    if not eligible:
        reasons.append(
            _("Cities of %(country)s are not eligible for this call.")
            % {"country": city.country.name}
        )
    return reasons


def drafting_refusals_by_city(
    *, user: User, call: Call, cities, now=None, deadlines=None, member_of=None
) -> dict[int, list]:
    """Why `user` may not start a proposal in `call` for each of `cities` (by city id; an
    empty list where they may), in three queries however many cities there are (fewer when
    the call's eligible countries are prefetched, `deadlines` come from `deadlines_for` or the
    caller read the user's memberships itself: `member_of`, ids; for showing only, since
    starting a proposal checks again through `drafting_refusals`)."""
    now = now or timezone.now()
    cities = list(cities)
    if member_of is None:
        member_of = member_city_ids(user, cities)
    eligible = {country.pk for country in call.eligible_countries.all()}
    if deadlines is None:
        deadlines = call.deadlines_for(cities)
    refusals = {}
    for city in cities:
        reasons = []
        if city.pk not in member_of:
            reasons.append(_("You are not a member of this city."))
        reasons += _city_refusals(call, city, eligible)
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
        call=call, city=city, title=title, created_by=user, updated_by=user
    )
    _keep_revision(proposal, user)
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
    from .models import ProposalRevision

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
    from .models import ProposalRevision

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
        summaries.touch(pk=current.pk)  # bulk_create sends no signal
    _keep_revision(current, user)
    return current


ATTACHMENT_TYPES = {
    "application/pdf": "PDF",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "DOCX",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "XLSX",
    "image/png": "PNG",
    "image/jpeg": "JPEG",
}
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
            _audit_attachment(user, "attachment.added", current, attachment)
    except BaseException:
        _delete_stored(stored_name)
        raise
    return attachment


def delete_attachment(*, user: User, attachment: Attachment) -> None:
    with transaction.atomic():
        proposal = Proposal.objects.select_for_update().get(pk=attachment.proposal_id)
        if not is_city_member(user, proposal.city):
            raise PermissionDenied
        if not proposal.is_editable:
            raise ValidationError(_("This proposal can no longer be edited."))
        _audit_attachment(user, "attachment.deleted", proposal, attachment)
        attachment.delete()  # the stored file goes after commit (signals.delete_stored_files)


def audit_download(request, attachment: Attachment) -> None:
    """Record that the reader of `request` downloaded `attachment` (let through the gate)."""
    audit(
        actor=request.user,
        action="download.attachment",
        proposal=attachment.proposal,
        request=request,
        attachment=attachment.code,
        name=attachment.name,
    )


def _audit_attachment(user: User, action: str, proposal: Proposal, attachment: Attachment) -> None:
    audit(
        actor=user,
        action=action,
        proposal=proposal,
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
    method = getattr(proposal, name)
    before = proposal.status
    if not can_proceed(method, check_conditions=False):
        raise ValidationError(
            _("This is not possible while the proposal is %(status)s.")
            % {"status": Status(before).label.lower()}
        )
    transition = method._django_fsm.get_transition(before)
    if not transition.has_perm(proposal, actor):
        raise PermissionDenied
    unmet = [condition for condition in transition.conditions if not condition(proposal)]
    if unmet:
        raise ValidationError([_(condition.__doc__) for condition in unmet])
    method()
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
    if proposal.status == Status.REVISION_REQUESTED:
        if proposal.resubmission_due and now >= proposal.resubmission_due:
            reasons.append(_("The deadline to resubmit has passed."))
    elif now < call.opens_at:
        reasons.append(_("The call is not open yet."))
    elif now >= call.deadline_for(city):
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
        resubmission = current.status == Status.REVISION_REQUESTED
        take_transition(
            current,
            "submit",
            actor=user,
            message=_("Resubmitted after revision.") if resubmission else _("Submitted."),
        )
        ProposalSnapshot.objects.create(
            proposal=current,
            number=current.snapshots.count() + 1,
            data=proposal_snapshot(current),
            submitted_by=user,
        )
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


# The review workflow ------------------------------------------------------------------------


def audit(
    *,
    actor: User | None,
    action: str,
    proposal: Proposal | None = None,
    city: City | None = None,
    user: User | None = None,
    request=None,
    **details,
) -> AuditEvent:
    """Record an event in the audit trail (see `proposals.audit.record`, its one writer)."""
    return audit_trail.record(
        actor=actor,
        action=action,
        proposal=proposal,
        city=city,
        user=user,
        request=request,
        **details,
    )


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
    take_transition(current, "screen", actor=actor, message=_("Screening started."))
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
    audit(actor=actor, action="eligibility", proposal=current, checks=current.eligibility)
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
        current, "send_to_review", actor=actor, message=_("Eligible: sent to the reviewers.")
    )
    return current


@transaction.atomic
def shortlist_proposal(*, actor: User, proposal: Proposal, note: str = "") -> Proposal:
    current = _locked(proposal)
    take_transition(current, "shortlist", actor=actor, message=note, public=False)
    return current


@transaction.atomic
def approve_proposal(*, actor: User, proposal: Proposal, amount: int, letter: str) -> Proposal:
    """Staff approve a shortlisted proposal: an amount (at most the request) and a letter."""
    current = _locked(proposal)
    current.approved_jpy = amount
    current.decision_letter = letter.strip()
    current.decided_by = actor
    current.decided_at = timezone.now()
    take_transition(current, "approve", actor=actor, message=_("Approved."))
    return current


@transaction.atomic
def reject_proposal(*, actor: User, proposal: Proposal, letter: str) -> Proposal:
    """Staff reject a proposal, as ineligible in screening or after review, with a letter."""
    current = _locked(proposal)
    ineligible = current.status == Status.SCREENING
    current.decision_letter = letter.strip()
    current.decided_by = actor
    current.decided_at = timezone.now()
    take_transition(
        current,
        "reject",
        actor=actor,
        message=_("Not eligible.") if ineligible else _("Not selected."),
    )
    return current


def _may_assign(actor: User) -> None:
    if not actor.has_perm("proposals.assign_reviewers"):
        raise PermissionDenied


def reviewer_pool():
    """Everyone who may review: active members of the reviewers' group."""
    from .roles import REVIEWERS

    return User.objects.filter(is_active=True, groups__name=REVIEWERS)


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
    audit(
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
    audit(
        actor=reviewer,
        action="conflict_declared" if conflict else "no_conflict_declared",
        proposal=current.proposal,
        reason=reason,
    )
    if conflict:
        notifications.conflict_declared(current)
    return current


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
    if current.state == AssignmentState.SUBMITTED:
        raise ValidationError(_("This review has been submitted and can no longer change."))
    if current.state != AssignmentState.ACCEPTED:
        raise ValidationError(_("Declare first whether you have a conflict of interest."))
    # Locked: a criterion reweighed meanwhile waits for this review's scores, or this waits
    # for its new weight (scoring.refresh_weighted_scores), so the stored score agrees.
    criteria = {
        criterion.pk: criterion for criterion in current.proposal.call.criteria.select_for_update()
    }
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
    audit(
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
