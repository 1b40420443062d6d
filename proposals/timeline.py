"""The timeline of a project: everything that happened to it, oldest first, from the records
the services keep (stage changes, invitations, the kick-off, deliverables' versions and their
reviews, payments, financing tracks with their status changes and documents, desk requests).
Staff read it in the project's admin page. A fixed number of queries, however long the
project's history."""

import datetime
from dataclasses import dataclass

from django.utils.translation import gettext as _

from .fiscal import JST
from .models import (
    AuditEvent,
    ConsultantInvitation,
    DeliverableVersion,
    DeskRequest,
    FinancingDocument,
    FinancingStatusChange,
    FinancingTrack,
    KickOff,
    Payment,
    Project,
)


@dataclass(frozen=True)
class Event:
    at: datetime.datetime
    what: str
    by: str = ""
    note: str = ""


def _on(day: datetime.date) -> datetime.datetime:
    # Events known by their date only (a meeting, a payment) sort at the start of that day, JST.
    return datetime.datetime.combine(day, datetime.time(), tzinfo=JST)


def _name(user) -> str:
    return str(user) if user else ""


def project_timeline(project: Project) -> list[Event]:
    events = [Event(project.created_at, _("Project created on the proposal's approval"))]
    for change in project.stage_changes.select_related("actor"):
        events.append(
            Event(
                change.created_at,
                _("Stage: %(from)s → %(to)s")
                % {"from": change.get_from_stage_display(), "to": change.get_to_stage_display()},
                _name(change.actor),
                change.message,
            )
        )
    for invitation in ConsultantInvitation.objects.filter(project=project).select_related(
        "invited_by"
    ):
        events.append(
            Event(
                invitation.created_at,
                _("Consultant invited: %(email)s") % {"email": invitation.email},
                _name(invitation.invited_by),
            )
        )
        if invitation.accepted_at:
            events.append(
                Event(
                    invitation.accepted_at,
                    _("Consultant joined: %(email)s") % {"email": invitation.email},
                )
            )
    for removal in AuditEvent.objects.filter(
        proposal=project.proposal_id, action="project.consultant_removed"
    ).select_related("actor"):
        events.append(
            Event(
                removal.created_at,
                _("Consultant removed: %(email)s") % {"email": removal.details.get("email", "")},
                _name(removal.actor),
            )
        )
    kickoff = KickOff.objects.filter(project=project).first()
    if kickoff is not None:
        events.append(
            Event(
                _on(kickoff.held_on), _("Kick-off meeting in %(place)s") % {"place": kickoff.place}
            )
        )
    versions = DeliverableVersion.objects.filter(deliverable__project=project).select_related(
        "deliverable", "uploaded_by", "reviewed_by"
    )
    for version in versions:
        kind = version.deliverable.get_kind_display()
        events.append(
            Event(
                version.uploaded_at,
                _("%(deliverable)s uploaded: %(name)s")
                % {"deliverable": kind, "name": version.name},
                _name(version.uploaded_by),
            )
        )
        if version.reviewed_at:
            events.append(
                Event(
                    version.reviewed_at,
                    f"{kind}: {version.get_outcome_display()}",
                    _name(version.reviewed_by),
                    version.comment,
                )
            )
    for payment in Payment.objects.filter(project=project, paid_on__isnull=False):
        events.append(
            Event(
                _on(payment.paid_on), _("Paid ¥%(amount)s") % {"amount": f"{payment.amount_jpy:,}"}
            )
        )
    for track in FinancingTrack.objects.filter(project=project):
        events.append(
            Event(
                track.created_at,
                _("Financing track added: %(track)s") % {"track": track},
            )
        )
    for change in FinancingStatusChange.objects.filter(track__project=project).select_related(
        "track", "actor"
    ):
        events.append(
            Event(
                change.created_at,
                f"{change.track}: {change.get_from_status_display()} → "
                f"{change.get_to_status_display()}",
                _name(change.actor),
                change.note,
            )
        )
    for document in FinancingDocument.objects.filter(track__project=project).select_related(
        "track", "uploaded_by"
    ):
        events.append(
            Event(
                document.uploaded_at,
                _("%(track)s: document %(name)s")
                % {"track": document.track, "name": document.name},
                _name(document.uploaded_by),
            )
        )
    for request in DeskRequest.objects.filter(project=project).select_related("requester"):
        events.append(
            Event(
                request.created_at,
                _("Desk request: %(subject)s") % {"subject": request.subject},
                _name(request.requester),
            )
        )
    return sorted(events, key=lambda event: event.at)
