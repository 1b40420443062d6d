"""The portal's pages, by area: pages (home, profile), cities, calls, proposals."""

from contextlib import contextmanager

from django.contrib import messages
from django.core.exceptions import ValidationError


@contextmanager
def refusal_shown(request):
    """Run a change (a service call and the success message after it): a refusal
    (ValidationError) stops it and is shown to the reader as an error instead."""
    try:
        yield
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
