"""The one gate for object access.

Views and the admin fetch objects only through these functions, which raise Http404 for anyone
who may not see the object, so that nobody learns whether it exists.
"""

from functools import wraps

from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q, Value
from django.db.models.functions import Coalesce, NullIf
from django.http import Http404

from .models import (
    AssignmentState,
    Attachment,
    Call,
    City,
    CityMembership,
    Deliverable,
    DeliverableVersion,
    DeskFile,
    DeskRequest,
    ExportJob,
    FinancingDocument,
    Notification,
    Project,
    Proposal,
    ReviewAssignment,
    User,
    VerificationStatus,
)
from .models.geo import is_city_lead
from .models.proposal import is_programme_staff


def can_manage_city(user: User, city: City) -> bool:
    """Leads of the city and programme staff manage its members and join requests."""
    if not user.is_authenticated:
        return False
    if user.is_staff and user.has_perm("proposals.change_city"):
        return True
    return is_city_lead(user, city)


def get_city_for_user(user: User, code: str, *, manage: bool = False) -> City:
    """The city with `code` if `user` is a member (or staff); with `manage`, a lead or staff."""
    city = City.objects.visible_to(user).select_related("country").filter(code=code).first()
    if city is None:
        raise Http404("No such city.")
    if manage and not can_manage_city(user, city):
        raise Http404("No such city.")
    return city


def is_city_member(user: User, city: City) -> bool:
    return user.is_authenticated and CityMembership.objects.filter(city=city, user=user).exists()


def member_city_ids(user: User, cities) -> set[int]:
    """Which of `cities` `user` is a member of, in one query."""
    if not user.is_authenticated:
        return set()
    return set(
        CityMembership.objects.filter(user=user, city__in=[c.pk for c in cities])
        .order_by()
        .values_list("city_id", flat=True)
    )


def get_call_or_404(code: str) -> Call:
    """A published call, which anybody may read."""
    call = Call.objects.published().filter(code=code).first()
    if call is None:
        raise Http404("No such call.")
    return call


def get_proposal_for_user(
    user: User, code: str, *, write: bool = False, with_due_at: bool = False
) -> Proposal:
    """The proposal with `code` for its city's members and programme staff; 404 for others.

    With `write`, only members of the city (who draft it) pass; staff who may read it get 403.
    The proposal comes with its call, city and country, and with the reader's place in its
    city: `reader_is_member` and `reader_is_lead` (False for staff who are not members); with
    `with_due_at`, with its `due_at` (ProposalQuerySet.with_due_at) in the same query.
    """
    if not user.is_authenticated:
        raise Http404("No such proposal.")
    membership = CityMembership.objects.filter(city=OuterRef("city"), user=user.pk)
    proposals = Proposal.objects.with_due_at() if with_due_at else Proposal.objects.all()
    try:
        proposal = (
            proposals.select_related("call", "city__country")
            .annotate(
                reader_is_member=Exists(membership), reader_is_lead=Exists(membership.leads())
            )
            .get(code=code)
        )
    except Proposal.DoesNotExist:
        raise Http404("No such proposal.") from None
    if not proposal.reader_is_member and not is_programme_staff(user):
        raise Http404("No such proposal.")
    if write and not proposal.reader_is_member:
        raise PermissionDenied
    return proposal


def get_attachment_for_user(
    user: User, proposal_code: str, code: str, *, write: bool = False
) -> Attachment:
    """An attachment of a proposal `user` may see (with `write`, one they may edit)."""
    proposal = get_proposal_for_user(user, proposal_code, write=write)
    attachment = proposal.attachments.filter(code=code).first()
    if attachment is None:
        raise Http404("No such attachment.")
    return attachment


def get_notification_for_user(user: User, pk) -> Notification:
    """An email the portal sent, for its recipient only (not even staff: it may hold what
    only the recipient was to read); 404 for everybody else."""
    notification = (
        Notification.objects.filter(recipient=user, pk=pk).first()
        if user.is_authenticated
        else None
    )
    if notification is None:
        raise Http404("No such notification.")
    return notification


def get_assignment_for_reviewer(user: User, pk) -> ReviewAssignment:
    """The reviewer's own assignment; 404 for anybody else's, whoever asks."""
    assignment = (
        ReviewAssignment.objects.filter(pk=pk, reviewer_id=user.pk)
        .select_related("proposal__call", "proposal__city__country")
        .first()
        if str(pk).isdigit() and user.is_authenticated
        else None
    )
    if assignment is None:
        raise Http404("No such assignment.")
    return assignment


def reviewer_may_read(assignment: ReviewAssignment) -> bool:
    """A reviewer reads the proposal only after declaring that they have no conflict."""
    return assignment.state in (AssignmentState.ACCEPTED, AssignmentState.SUBMITTED)


def get_attachment_for_reviewer(user: User, assignment_pk, code: str) -> Attachment:
    assignment = get_assignment_for_reviewer(user, assignment_pk)
    if not reviewer_may_read(assignment):
        raise Http404("Declare first.")
    attachment = assignment.proposal.attachments.filter(code=code).first()
    if attachment is None:
        raise Http404("No such attachment.")
    return attachment


def staff_only(view):
    """Reports are for programme staff; to anybody else they do not exist (404)."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not is_programme_staff(request.user):
            raise Http404("No such page.")
        return view(request, *args, **kwargs)

    return wrapped


def get_export_job_for_user(user: User, code: str):
    job = ExportJob.objects.filter(code=code, requested_by_id=user.pk).first()
    if job is None or not is_programme_staff(user):
        raise Http404("No such export.")
    return job


def projects_visible_to(user: User):
    """The projects `user` may open: their cities' and those they are a consultant on; all of
    them for programme staff (the list's counterpart of get_project_for_user)."""
    projects = Project.objects.select_related("proposal__city__country", "proposal__call")
    if is_programme_staff(user):
        return projects
    if not user.is_authenticated:
        return projects.none()
    cities = CityMembership.objects.filter(user=user.pk).values("city")
    consulted = Project.consultants.through.objects.filter(user=user.pk).values("project")
    return projects.filter(Q(proposal__city__in=cities) | Q(pk__in=consulted))


def public_projects():
    """The projects anybody may see on the public page of projects, with what their public
    summary shows: Project.objects.published() (the list's counterpart of
    get_public_project_or_404). `shown_title` is the public title, or the proposal's."""
    return (
        Project.objects.published()
        .select_related("proposal__city__country")
        .annotate(
            shown_title=Coalesce(NullIf("public_title", Value("")), "proposal__title"),
        )
    )


def get_public_project_or_404(code: str) -> Project:
    """A published project, which anybody may read on its public page; 404 for any other."""
    project = public_projects().filter(code=code).first()
    if project is None:
        raise Http404("No such project.")
    return project


def get_project_for_user(user: User, code: str) -> Project:
    """The project with `code` for its city's members, its consultants and programme staff;
    404 for others. It comes with its proposal, call, city and kick-off, and the reader's place:
    `reader_is_member` (of the city) and `reader_is_consultant`."""
    if not user.is_authenticated:
        raise Http404("No such project.")
    membership = CityMembership.objects.filter(city=OuterRef("proposal__city"), user=user.pk)
    consultant = Project.consultants.through.objects.filter(project=OuterRef("pk"), user=user.pk)
    project = (
        Project.objects.select_related("proposal__call", "proposal__city__country", "kickoff")
        .annotate(reader_is_member=Exists(membership), reader_is_consultant=Exists(consultant))
        .filter(code=code)
        .first()
    )
    if project is None or not (
        project.reader_is_member or project.reader_is_consultant or is_programme_staff(user)
    ):
        raise Http404("No such project.")
    return project


def get_deliverable_for_user(user: User, project_code: str, kind: str) -> Deliverable:
    """A deliverable of a project `user` may see."""
    project = get_project_for_user(user, project_code)
    deliverable = project.deliverables.filter(kind=kind).first()
    if deliverable is None:
        raise Http404("No such deliverable.")
    return deliverable


def get_deliverable_file_for_user(user: User, project_code: str, code: str) -> DeliverableVersion:
    """An uploaded version of a deliverable: for the project's consultants and programme staff
    (the city sees the deliverables' states, not their drafts); 404 for others."""
    project = get_project_for_user(user, project_code)
    if not (project.reader_is_consultant or is_programme_staff(user)):
        raise Http404("No such file.")
    version = (
        DeliverableVersion.objects.filter(deliverable__project=project, code=code)
        .select_related("deliverable__project__proposal__city")
        .first()
    )
    if version is None:
        raise Http404("No such file.")
    return version


def get_financing_document_for_user(user: User, project_code: str, code: str):
    """A document of one of a project's financing tracks: for programme staff only (investors'
    papers; the city and the consultants see the tracks' status); 404 for others."""
    project = get_project_for_user(user, project_code)
    if not is_programme_staff(user):
        raise Http404("No such file.")
    document = (
        FinancingDocument.objects.filter(track__project=project, code=code)
        .select_related("track__project__proposal")
        .first()
    )
    if document is None:
        raise Http404("No such file.")
    return document


# The consultation desk -------------------------------------------------------------------------


def desk_cities(user: User):
    """The verified cities `user` is a member of: those they may ask the desk for."""
    if not user.is_authenticated:
        return City.objects.none()
    return City.objects.filter(
        memberships__user=user.pk, verification_status=VerificationStatus.VERIFIED
    ).order_by("name", "pk")


def is_consultant(user: User) -> bool:
    return (
        user.is_authenticated and Project.consultants.through.objects.filter(user=user.pk).exists()
    )


def may_ask_desk(user: User) -> bool:
    """Who may open a request at the consultation desk: a member of a verified city (for that
    city), a consultant (on any project), or the account of a Japanese company (`company`,
    set by staff). The one rule for the pages, the nav and services.open_request."""
    if not (user.is_authenticated and user.is_active):
        return False
    return bool(user.company) or desk_cities(user).exists() or is_consultant(user)


def is_desk_staff(user: User) -> bool:
    """Programme staff who see every desk request (and answer it: may_answer_desk)."""
    return (
        user.is_authenticated
        and user.is_active
        and user.is_staff
        and user.has_perm("proposals.view_deskrequest")
    )


def may_answer_desk(user: User) -> bool:
    return is_desk_staff(user) and user.has_perm("proposals.change_deskrequest")


def on_asking_side(desk_request: DeskRequest, user: User, *, is_member: bool) -> bool:
    """Who asks with a request (reads it, follows it up, closes it, hears its answers): for a
    city's request the city's members, today's (`is_member`: of the request's city; the asker
    too only while a member); for a consultant's or a company's, the account that asked."""
    if desk_request.city_id is not None:
        return is_member
    return desk_request.requester_id == user.pk


def desk_requests_visible_to(user: User):
    """The desk requests `user` may open: their cities' (any city they are a member of today)
    and those they asked for no city; all of them for staff (the list's counterpart of
    get_desk_request_for_user and on_asking_side)."""
    requests = DeskRequest.objects.select_related("requester", "city__country", "project")
    if is_desk_staff(user):
        return requests
    if not user.is_authenticated:
        return requests.none()
    cities = CityMembership.objects.filter(user=user.pk).values("city")
    return requests.filter(Q(city=None, requester=user.pk) | Q(city__in=cities))


def get_desk_request_for_user(user: User, code: str) -> DeskRequest:
    """The request with `code` for those on its asking side (on_asking_side) and staff; 404 for
    everybody else. It comes with the reader's place: `reader_is_asker` (they follow up and
    close it)."""
    if not user.is_authenticated:
        raise Http404("No such request.")
    membership = CityMembership.objects.filter(city=OuterRef("city"), user=user.pk)
    found = (
        DeskRequest.objects.select_related("requester", "city__country", "project__proposal")
        .annotate(reader_is_member=Exists(membership))
        .filter(code=code)
        .first()
    )
    if found is None:
        raise Http404("No such request.")
    found.reader_is_asker = on_asking_side(found, user, is_member=found.reader_is_member)
    if not (found.reader_is_asker or is_desk_staff(user)):
        raise Http404("No such request.")
    return found


def get_desk_file_for_user(user: User, code: str, file_code: str) -> DeskFile:
    """A file of a request `user` may see (get_desk_request_for_user); 404 for others."""
    desk_request = get_desk_request_for_user(user, code)
    desk_file = desk_request.files.filter(code=file_code).first()
    if desk_file is None:
        raise Http404("No such file.")
    desk_file.request = desk_request
    return desk_file
