from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from smartjamp.uploads import PDF, file_download, report_oversized_uploads

from .. import audit, services
from ..models import DeliverableState, DeliverableVersion
from ..models.project import may_manage
from ..permissions import (
    get_deliverable_file_for_user,
    get_deliverable_for_user,
    get_financing_document_for_user,
    get_project_for_user,
    is_programme_staff,
    projects_visible_to,
)
from . import audited_download, refusal_shown
from . import public_projects as public_projects_views


class DeliverableUploadForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("The report (PDF, DOCX or XLSX)"))


class DeliverableReviewForm(forms.Form):
    comment = forms.CharField(
        label=gettext_lazy("Comments (required to return it)"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


@login_required
def my_projects(request):
    paginator = Paginator(projects_visible_to(request.user).order_by("-created_at", "-pk"), 50)
    return render(
        request, "projects/list.html", {"page": paginator.get_page(request.GET.get("page"))}
    )


def project_detail(request, code):
    # Readers who may not open the project (visitors, other cities, reviewers) get its public
    # page if it is published, and 404 otherwise: the same answer as for a code that does not
    # exist.
    try:
        project = get_project_for_user(request.user, code)
    except Http404:
        return public_projects_views.public_project(request, code)
    staff = is_programme_staff(request.user)
    versions = DeliverableVersion.objects.select_related("uploaded_by").order_by("-uploaded_at")
    deliverables = project.deliverables.prefetch_related(Prefetch("versions", queryset=versions))
    return render(
        request,
        "projects/detail.html",
        {
            "project": project,
            "proposal": project.proposal,
            "deliverables": deliverables,
            "changes": project.stage_changes.select_related("actor"),
            "financing": project.financing_tracks.all(),
            # The contract's instalments: for staff and the consultants, not the city.
            "payments": project.payments.select_related("deliverable")
            if staff or project.reader_is_consultant
            else [],
            "show_names": staff,
            # Who may do what here: the consultants upload, staff review; files are theirs.
            "can_upload": project.reader_is_consultant and project.takes_deliverables,
            "can_review": staff and may_manage(request.user),
            "can_download": staff or project.reader_is_consultant,
            "uploadable": (DeliverableState.PLANNED, DeliverableState.RETURNED),
            "upload_form": DeliverableUploadForm(),
            "review_form": DeliverableReviewForm(),
        },
    )


# The pages of one project's objects have no login_required: the gate answers 404 to anyone
# who may not see the project, signed in or not (issue 16), and the 404 page offers visitors
# to sign in and come back.


def _back(deliverable):
    return redirect(deliverable.project.get_absolute_url() + f"#deliverable-{deliverable.kind}")


@require_POST
def deliverable_upload(request, code, kind):
    deliverable = get_deliverable_for_user(request.user, code, kind)
    if not deliverable.project.reader_is_consultant:
        raise PermissionDenied
    form = DeliverableUploadForm(request.POST, request.FILES)
    valid = form.is_valid()
    report_oversized_uploads(request, form)
    if valid and not form.errors:
        with refusal_shown(request):
            version = services.upload_deliverable(
                user=request.user, deliverable=deliverable, upload=form.cleaned_data["file"]
            )
            messages.success(
                request, _("%(name)s is uploaded for review.") % {"name": version.name}
            )
    else:
        for errors in form.errors.values():
            messages.error(request, " ".join(errors))
    return _back(deliverable)


@require_POST
def deliverable_review(request, code, kind):
    deliverable = get_deliverable_for_user(request.user, code, kind)
    if not is_programme_staff(request.user):
        raise PermissionDenied
    form = DeliverableReviewForm(request.POST)
    outcome = request.POST.get("outcome")
    accept = outcome == "accept"
    if outcome not in ("accept", "return"):
        messages.error(request, _("Choose to accept the deliverable or to return it."))
    elif form.is_valid():
        with refusal_shown(request):
            services.review_deliverable(
                actor=request.user,
                deliverable=deliverable,
                accept=accept,
                comment=form.cleaned_data["comment"],
                version_code=request.POST.get("version", ""),
            )
            messages.success(
                request,
                _("Accepted.") if accept else _("Returned to the consultant with comments."),
            )
    else:
        messages.error(request, _("Comments are at most 5,000 characters."))
    return _back(deliverable)


def kickoff_minutes(request, code):
    """The kick-off's signed minutes, for everyone who may see the project."""
    project = get_project_for_user(request.user, code)
    kickoff = getattr(project, "kickoff", None)
    if kickoff is None or not kickoff.minutes:
        raise Http404("No minutes.")
    audit.record(
        actor=request.user,
        action="download.kickoff_minutes",
        proposal=project.proposal,
        request=request,
        project=code,
    )
    return file_download(kickoff.minutes, kickoff.minutes_name or "minutes.pdf", PDF)


def deliverable_file(request, code, file_code):
    version = get_deliverable_file_for_user(request.user, code, file_code)
    return audited_download(
        request,
        "download.deliverable",
        version,
        proposal=version.deliverable.project.proposal,
        project=code,
    )


def financing_document(request, code, file_code):
    """A financing track's document, for programme staff (the gate); audited."""
    document = get_financing_document_for_user(request.user, code, file_code)
    return audited_download(
        request,
        "download.financing_document",
        document,
        proposal=document.track.project.proposal,
        project=code,
    )
