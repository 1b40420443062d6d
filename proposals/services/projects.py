"""After selection: a project for each approved proposal, and its stage changes."""

import datetime

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from smartjamp.uploads import DOCUMENTS, check_upload, checked_file_name

from .. import audit as audit_trail
from .. import notifications
from ..fiscal import fiscal_year, fiscal_year_end
from ..models import (
    ConsultantInvitation,
    Deliverable,
    DeliverableState,
    DeliverableVersion,
    FinancingDocument,
    FinancingStatus,
    FinancingStatusChange,
    FinancingTrack,
    Project,
    ProjectStage,
    ProjectStageChange,
    Proposal,
    User,
)
from ..models.project import default_plan, may_manage
from .cities import delete_stored
from .transitions import check_transition


def create_project(*, actor: User, proposal: Proposal) -> Project:
    """The project of a just approved proposal (in the approval's transaction): funded in the
    fiscal year of its decision, reporting by the end of that year, with the default plan of
    deliverables (models.project.default_plan). Tells the city's members."""
    year = fiscal_year(proposal.decided_at)
    project = Project.objects.create(
        proposal=proposal, fiscal_year=year, report_by=fiscal_year_end(year)
    )
    Deliverable.objects.bulk_create(
        Deliverable(project=project, kind=kind, due_on=due) for kind, due in default_plan(year)
    )
    audit_trail.record(
        actor=actor, action="project.created", proposal=proposal, project=project.code
    )
    transaction.on_commit(lambda: notifications.project_created(project))
    return project


@transaction.atomic
def take_project_transition(
    *, actor: User, project: Project, name: str, message: str = "", reason: str = ""
) -> ProjectStageChange:
    """Take the stage transition `name` declared on Project, and record it (who, when, the
    message; `reason` for a cancellation). Refusals as services.transitions.check_transition.
    `project` itself is left as it was: the returned change's project is the new one."""
    current = (
        Project.objects.select_for_update().select_related("proposal__city").get(pk=project.pk)
    )
    before = current.stage
    if name == "cancel":
        current.cancel_reason = reason.strip()
    refusal = _("This is not possible while the project is at the stage “%(stage)s”.") % {
        "stage": ProjectStage(before).label
    }
    check_transition(current, name, actor, refusal=refusal)()
    current.save()
    change = ProjectStageChange.objects.create(
        project=current,
        from_stage=before,
        to_stage=current.stage,
        actor=actor,
        message=message.strip() or current.cancel_reason,
    )
    audit_trail.record(
        actor=actor,
        action="project.stage_changed",
        proposal=current.proposal,
        project=current.code,
        **{"from": before, "to": current.stage},
    )
    transaction.on_commit(lambda: notifications.project_stage_changed(change))
    return change  # change.project is the project in its new stage


@transaction.atomic
def invite_consultant(*, actor: User, project: Project, email: str) -> ConsultantInvitation:
    """Staff invite a consultant to `project` by email. The account whose verified address it
    is joins at once; otherwise the address is sent an invitation to sign up, and joins when
    it confirms that address (claim_invitations)."""
    if not may_manage(actor):
        raise PermissionDenied
    if not project.is_open:
        raise ValidationError(_("This project is closed: nobody joins it any more."))
    email = email.strip()
    invitation = ConsultantInvitation.objects.create(project=project, email=email, invited_by=actor)
    verified = next(
        (
            address
            for address in EmailAddress.objects.filter(
                email__iexact=email, verified=True, user__is_active=True
            ).select_related("user")
            if same_address(address.email, email)
        ),
        None,
    )
    audit_trail.record(
        actor=actor,
        action="project.consultant_invited",
        proposal=project.proposal,
        project=project.code,
        email=email,
    )
    if verified is not None:
        _join(invitation, verified.user)
    else:
        transaction.on_commit(lambda: notifications.consultant_invited(invitation))
    return invitation


INVITATION_VALID_FOR = datetime.timedelta(days=30)


def same_address(one: str, other: str) -> bool:
    """Whether two addresses are the same mailbox: the domain compared in its ASCII form
    (IDNA), the local part ignoring case only when it is ASCII. Never the database's
    case-insensitive match alone: PostgreSQL's UPPER folds "ı" to "I", so "gmaıl.com" (a
    domain anybody may register) would match "gmail.com"."""

    def key(address: str) -> str:
        local, _at, domain = address.strip().rpartition("@")
        try:
            domain = domain.encode("idna").decode("ascii").lower()
        except UnicodeError:
            return address.strip()
        return f"{local.lower() if local.isascii() else local}@{domain}"

    return key(one) == key(other)


def claim_invitations(user: User, email: str) -> int:
    """The pending invitations of `email`, now a verified address of `user`, sent in the last
    30 days to projects still open: `user` joins those projects. Returns how many."""
    if not user.is_active:
        return 0
    pending = [
        invitation
        for invitation in ConsultantInvitation.objects.filter(
            email__iexact=email,
            accepted_at=None,
            created_at__gte=timezone.now() - INVITATION_VALID_FOR,
        ).select_related("project")
        if same_address(invitation.email, email) and invitation.project.is_open
    ]
    for invitation in pending:
        _join(invitation, user)
    return len(pending)


def _join(invitation: ConsultantInvitation, user: User) -> None:
    invitation.project.consultants.add(user)
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    transaction.on_commit(lambda: notifications.consultant_joined(invitation.project, user))


DELIVERABLE_TYPES = DOCUMENTS
MAX_DELIVERABLE_BYTES = settings.UPLOAD_HARD_LIMIT_BYTES  # what the upload handler lets in


def upload_deliverable(
    *, user: User, deliverable: Deliverable, upload: UploadedFile
) -> DeliverableVersion:
    """A consultant of the project uploads a (checked) version of a deliverable that is
    planned or was returned; staff are told. Every version is kept."""
    content_type = check_upload(upload, allowed=DELIVERABLE_TYPES, max_bytes=MAX_DELIVERABLE_BYTES)
    stored_name = ""
    try:
        with transaction.atomic():
            current = (
                Deliverable.objects.select_for_update()
                .select_related("project")
                .get(pk=deliverable.pk)
            )
            project = current.project
            if not project.consultants.filter(pk=user.pk).exists():
                raise PermissionDenied
            if not project.takes_deliverables:
                raise ValidationError(_("The survey of this project is over."))
            if current.state not in (DeliverableState.PLANNED, DeliverableState.RETURNED):
                raise ValidationError(
                    _("This deliverable is %(state)s: nothing to upload now.")
                    % {"state": current.get_state_display().lower()}
                )
            version = DeliverableVersion(
                deliverable=current,
                name=checked_file_name(upload.name, content_type),
                content_type=content_type,
                size=upload.size,
                uploaded_by=user,
            )
            version.file.save("upload", upload, save=False)
            stored_name = version.file.name
            version.save()
            current.state = DeliverableState.UPLOADED
            current.save(update_fields=["state"])
            audit_trail.record(
                actor=user,
                action="deliverable.uploaded",
                proposal=project.proposal,
                project=project.code,
                deliverable=current.kind,
                name=version.name,
            )
    except BaseException:
        delete_stored(stored_name)  # rolled back: nothing refers to the stored file
        raise
    # After the block, so that a failure of what runs on commit cannot delete the file of a
    # committed version (in a caller's transaction, it runs when that commits).
    transaction.on_commit(lambda: notifications.deliverable_uploaded(version))
    return version


@transaction.atomic
def review_deliverable(
    *, actor: User, deliverable: Deliverable, accept: bool, comment: str = "", version_code=None
) -> DeliverableVersion:
    """Staff accept the uploaded version of a deliverable, or return it with comments (the
    consultant then uploads it again). The uploader and the city are told. `version_code`,
    the version the reviewer saw, must still be the latest (the project page sends it)."""
    if not may_manage(actor):
        raise PermissionDenied
    current = (
        Deliverable.objects.select_for_update()
        .select_related("project__proposal")
        .get(pk=deliverable.pk)
    )
    comment = comment.strip()
    if current.state != DeliverableState.UPLOADED:
        raise ValidationError(_("There is no uploaded version of this deliverable to review."))
    if not accept and not comment:
        raise ValidationError(_("Say what must change: a returned deliverable needs comments."))
    outcome = DeliverableState.ACCEPTED if accept else DeliverableState.RETURNED
    version = current.versions.order_by("-uploaded_at", "-pk").first()
    if version_code is not None and version.code != version_code:
        raise ValidationError(
            _("A newer version was uploaded meanwhile: open the page again to review it.")
        )
    version.outcome, version.comment = outcome, comment
    version.reviewed_by, version.reviewed_at = actor, timezone.now()
    version.save(update_fields=["outcome", "comment", "reviewed_by", "reviewed_at"])
    current.state = outcome
    current.save(update_fields=["state"])
    project = current.project
    audit_trail.record(
        actor=actor,
        action=f"deliverable.{outcome}",
        proposal=project.proposal,
        project=project.code,
        deliverable=current.kind,
    )
    transaction.on_commit(lambda: notifications.deliverable_reviewed(version))
    return version


def add_financing_document(
    *, actor: User, track: FinancingTrack, upload: UploadedFile
) -> FinancingDocument:
    """Staff keep a document of a financing track (checked by content, like deliverables);
    read by staff only."""
    if not may_manage(actor):
        raise PermissionDenied
    content_type = check_upload(upload, allowed=DELIVERABLE_TYPES, max_bytes=MAX_DELIVERABLE_BYTES)
    document = FinancingDocument(
        track=track,
        name=checked_file_name(upload.name, content_type),
        content_type=content_type,
        size=upload.size,
        uploaded_by=actor,
    )
    document.file.save("upload", upload, save=False)
    try:
        with transaction.atomic():
            document.save()
            audit_trail.record(
                actor=actor,
                action="financing.document_added",
                proposal=track.project.proposal,
                project=track.project.code,
                track=track.pk,
                name=document.name,
            )
    except BaseException:
        delete_stored(document.file.name)  # rolled back: nothing refers to the stored file
        raise
    return document


NOT_SEEKING_FINANCING = _lazy("Financing is sought once the project is in investment promotion.")


@transaction.atomic
def add_financing_track(
    *,
    actor: User,
    project: Project,
    kind: str,
    counterpart: str,
    sought_jpy: int,
    contact: str = "",
) -> FinancingTrack:
    """Staff add a way of financing a project in its promotion of investment (or after)."""
    if not may_manage(actor):
        raise PermissionDenied
    if not project.seeks_financing:
        raise ValidationError(NOT_SEEKING_FINANCING)
    track = FinancingTrack(
        project=project,
        kind=kind,
        counterpart=counterpart.strip(),
        contact=contact.strip(),
        sought_jpy=sought_jpy,
    )
    track.full_clean(exclude=["status"])  # a protected field: only transitions set it
    track.save()
    audit_trail.record(
        actor=actor,
        action="financing.added",
        proposal=project.proposal,
        project=project.code,
        kind=kind,
        counterpart=track.counterpart,
        sought_jpy=sought_jpy,
    )
    transaction.on_commit(lambda: notifications.financing_changed(track, None))
    return track


@transaction.atomic
def change_financing_status(
    *,
    actor: User,
    track: FinancingTrack,
    name: str,
    note: str = "",
    committed_jpy: int | None = None,
    above_sought_reason: str = "",
) -> FinancingStatusChange:
    """Take the status transition `name` of a financing track (with the committed amount when
    the investor approves), record it and tell the city."""
    current = (
        FinancingTrack.objects.select_for_update()
        .select_related("project__proposal")
        .get(pk=track.pk)
    )
    before = current.status
    if committed_jpy is not None:
        current.committed_jpy = committed_jpy
        current.above_sought_reason = above_sought_reason.strip()
        current.full_clean(exclude=["status"])  # a protected field: only transitions set it
    refusal = _("This is not possible while the financing is %(status)s.") % {
        "status": FinancingStatus(before).label.lower()
    }
    check_transition(current, name, actor, refusal=refusal)()
    current.save()
    change = FinancingStatusChange.objects.create(
        track=current, from_status=before, to_status=current.status, actor=actor, note=note.strip()
    )
    project = current.project
    audit_trail.record(
        actor=actor,
        action="financing.status_changed",
        proposal=project.proposal,
        project=project.code,
        track=current.pk,
        **{"from": before, "to": current.status},
    )
    transaction.on_commit(lambda: notifications.financing_changed(current, change))
    return change


NEEDS_SUMMARY = _lazy("Write the public summary before publishing the project.")


# Publishing ------------------------------------------------------------------------------


def publication_refusal(summary: str) -> str | None:
    """Why a project with this public summary may not be published, or None: the public page
    is its summary."""
    return None if (summary or "").strip() else NEEDS_SUMMARY


def mark_published(project: Project, published: bool) -> bool:
    """Set `project` published or not (published_at is when it was first published); returns
    whether that changed. Saved by the caller, then recorded with `record_publication`."""
    if project.published == published:
        return False
    project.published = published
    if published and project.published_at is None:
        project.published_at = timezone.now()
    return True


def record_publication(*, actor, project: Project, request=None) -> None:
    audit_trail.record(
        actor=actor,
        action="project.published" if project.published else "project.unpublished",
        proposal=project.proposal,
        request=request,
        project=project.code,
    )


@transaction.atomic
def set_published(*, actor, project: Project, published: bool, request=None) -> bool:
    """Publish `project` on the public page of projects, or take it off; audited. Refuses to
    publish without a public summary (ValidationError). Returns whether anything changed."""
    if not may_manage(actor):
        raise PermissionDenied
    current = Project.objects.select_for_update().select_related("proposal").get(pk=project.pk)
    if published and (refusal := publication_refusal(current.public_summary)):
        raise ValidationError(refusal)
    if not mark_published(current, published):
        return False
    current.save(update_fields=["published", "published_at", "updated_at"])
    record_publication(actor=actor, project=current, request=request)
    return True
