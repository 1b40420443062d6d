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
from django.utils import timezone
from django.utils.translation import gettext as _
from django_fsm import can_proceed, has_transition_perm

from .models import (
    Attachment,
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
    Status,
    StatusChange,
    User,
    VerificationStatus,
    normalise_name,
)
from .permissions import can_manage_city
from .uploads import check_upload, sanitise_file_name, sniff_content_type

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
            return JoinRequest.objects.create(city=city, user=user, message=message)
    except IntegrityError:  # the same request, posted twice at once
        return pending.get()


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
    membership.role = role
    membership.save(update_fields=["role"])
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


# Calls and proposals ------------------------------------------------------------------------


class StaleProposal(Exception):
    """A save was based on an older version of the proposal than the one stored."""

    def __init__(self, proposal: Proposal):
        super().__init__("The proposal was changed by someone else.")
        self.proposal = proposal


def _is_member(user: User, city: City) -> bool:
    return CityMembership.objects.filter(city=city, user=user).exists()


def _is_lead(user: User, city: City) -> bool:
    return CityMembership.objects.filter(city=city, user=user, role=MemberRole.LEAD).exists()


def drafting_refusals(*, user: User, call: Call, city: City, now=None) -> list[str]:
    """Why `user` may not start a proposal for `city` in `call` (empty when they may)."""
    now = now or timezone.now()
    reasons = []
    if not _is_member(user, city):
        reasons.append(_("You are not a member of this city."))
    if not city.is_verified:
        reasons.append(_("The city must be verified by programme staff first."))
    if not call.is_eligible(city):
        reasons.append(
            _("Cities of %(country)s are not eligible for this call.")
            % {"country": city.country.name}
        )
    if now >= call.deadline_for(city):
        reasons.append(_("The call is closed."))
    return reasons


@transaction.atomic
def start_proposal(*, user: User, call: Call, city: City, title: str) -> Proposal:
    """Open a new draft for `city` in `call`."""
    reasons = drafting_refusals(user=user, call=call, city=city)
    if reasons:
        raise ValidationError(reasons)
    return Proposal.objects.create(
        call=call, city=city, title=title, created_by=user, updated_by=user
    )


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
    """Save the city's edits; refuse (StaleProposal) a save based on an outdated version.

    `values` holds only the fields a city may set; `partners` replaces the partner list.
    """
    current = Proposal.objects.select_for_update().get(pk=proposal.pk)
    if not _is_member(user, current.city):
        raise PermissionDenied
    if not current.is_editable:
        raise ValidationError(_("This proposal can no longer be edited."))
    if current.version != base_version:
        raise StaleProposal(current)
    for field, value in values.items():
        setattr(current, field, value)
    current.version += 1
    current.updated_by = user
    current.save()
    current.focus_areas.set(focus_areas)
    current.sectors.set(sectors)
    current.partners.all().delete()
    JapanesePartner.objects.bulk_create(
        JapanesePartner(proposal=current, **partner) for partner in partners
    )
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
    check_upload(upload, allowed=ATTACHMENT_TYPES, max_bytes=MAX_ATTACHMENT_BYTES)
    content_type = sniff_content_type(upload)
    stored_name = ""
    try:
        with transaction.atomic():
            current = Proposal.objects.select_for_update().get(pk=proposal.pk)
            if not _is_member(user, current.city):
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
                name=sanitise_file_name(upload.name),
                content_type=content_type,
                size=upload.size,
                uploaded_by=user,
            )
            attachment.file.save("upload", upload, save=False)
            stored_name = attachment.file.name
            attachment.save()
            Proposal.objects.filter(pk=current.pk).update(
                updated_at=timezone.now(), updated_by=user
            )
    except BaseException:
        _delete_stored(stored_name)
        raise
    return attachment


def delete_attachment(*, user: User, attachment: Attachment) -> None:
    with transaction.atomic():
        proposal = Proposal.objects.select_for_update().get(pk=attachment.proposal_id)
        if not _is_member(user, proposal.city):
            raise PermissionDenied
        if not proposal.is_editable:
            raise ValidationError(_("This proposal can no longer be edited."))
        attachment.delete()  # the stored file goes after commit (signals.delete_stored_files)


def _transition(
    proposal: Proposal, name: str, *, actor: User, message: str = "", public: bool = True
) -> StatusChange:
    """Take transition `name` (declared on Proposal) and record it."""
    method = getattr(proposal, name)
    before = proposal.status
    if not can_proceed(method, check_conditions=False):
        raise ValidationError(
            _("This is not possible while the proposal is %(status)s.")
            % {"status": Status(before).label.lower()}
        )
    if not has_transition_perm(method, actor):
        raise PermissionDenied
    method()
    proposal.save()
    return StatusChange.objects.create(
        proposal=proposal,
        from_status=before,
        to_status=proposal.status,
        actor=actor,
        message=message,
        is_public=public,
    )


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
    reasons = []
    if not city.is_verified:
        reasons.append(_("The city must be verified by programme staff first."))
    if not call.is_eligible(city):
        reasons.append(
            _("Cities of %(country)s are not eligible for this call.")
            % {"country": city.country.name}
        )
    if now < call.opens_at:
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
        if not _is_lead(user, current.city):
            raise PermissionDenied
        if current.status == Status.SUBMITTED:
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
        _transition(
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
    _transition(current, "withdraw", actor=user, message=reason)
    return current


@transaction.atomic
def post_message(*, user: User, proposal: Proposal, body: str) -> Message:
    """A clarification message from a city member or from programme staff."""
    body = body.strip()
    if not body:
        raise ValidationError(_("The message is empty."))
    member = _is_member(user, proposal.city)
    staff = user.has_perm("proposals.view_proposal")
    if not (member or staff):
        raise PermissionDenied
    return Message.objects.create(
        proposal=proposal, author=user, body=body, from_staff=staff and not member
    )
