from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from ..permissions import get_project_for_user, is_programme_staff


@login_required
def project_detail(request, code):
    project = get_project_for_user(request.user, code)
    return render(
        request,
        "projects/detail.html",
        {
            "project": project,
            "proposal": project.proposal,
            "deliverables": project.deliverables.all(),
            "changes": project.stage_changes.select_related("actor"),
            "show_names": is_programme_staff(request.user),
        },
    )
