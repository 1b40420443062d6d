"""After selection: a project for each approved proposal, and its stage changes."""

from django.db import transaction
from django.utils.translation import gettext as _

from .. import audit as audit_trail
from .. import notifications
from ..fiscal import fiscal_year, fiscal_year_end
from ..models import (
    Deliverable,
    Project,
    ProjectStage,
    ProjectStageChange,
    Proposal,
    User,
)
from ..models.project import default_plan
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
    if reason:
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
