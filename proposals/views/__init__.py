"""The portal's pages, by area: pages (home, profile), cities, calls, proposals, projects,
the desk, staff and the portfolio."""

from contextlib import contextmanager

from django.contrib import messages
from django.core.exceptions import ValidationError

from smartjamp.uploads import file_download

from .. import audit


def audited_download(request, action: str, stored, **where):
    """Hand the reader a stored file the gate let through (`stored`: its `file`, `name`,
    `content_type` and `code`), recorded as `action` with `where` (the proposal or city, and
    details) in the audit trail."""
    audit.record(
        actor=request.user,
        action=action,
        request=request,
        file=stored.code,
        name=stored.name,
        **where,
    )
    return file_download(stored.file, stored.name, stored.content_type)


@contextmanager
def refusal_shown(request):
    """Run a change (a service call and the success message after it): a refusal
    (ValidationError) stops it and is shown to the reader as an error instead."""
    try:
        yield
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
