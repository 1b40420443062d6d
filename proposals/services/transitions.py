"""How a declared transition (django-fsm) is checked before it is taken: the one rule for the
proposal workflow and the project pipeline alike."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _
from django_fsm import can_proceed


def check_transition(instance, name: str, actor, *, refusal: str):
    """The method of transition `name` on `instance`, once `actor` may take it now.

    Refuses with `refusal` (ValidationError) when the current state does not allow it, with
    the docstrings of the conditions that do not hold (ValidationError), and PermissionDenied
    when `actor` may not take it. The caller holds the row's lock and then calls the method."""
    method = getattr(instance, name)
    if not can_proceed(method, check_conditions=False):
        raise ValidationError(refusal)
    transition = method._django_fsm.get_transition(method._django_fsm.field.get_state(instance))
    if not transition.has_perm(instance, actor):
        raise PermissionDenied
    unmet = [condition for condition in transition.conditions if not condition(instance)]
    if unmet:
        raise ValidationError([_(condition.__doc__) for condition in unmet])
    return method
