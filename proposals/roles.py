"""The groups that give programme staff and MLIT reviewers their permissions in the admin."""

from django.contrib.auth.models import Group, Permission

PROGRAMME_STAFF = "Programme staff"
REVIEWERS = "MLIT reviewers"

# Staff manage every object of the domain app and the accounts of its users.
_STAFF_APPS = {"proposals", "account"}


def ensure_role_groups(**kwargs) -> None:
    """Create the role groups and give them their permissions (safe to run again)."""
    staff, _ = Group.objects.get_or_create(name=PROGRAMME_STAFF)
    staff.permissions.set(Permission.objects.filter(content_type__app_label__in=_STAFF_APPS))
    Group.objects.get_or_create(name=REVIEWERS)
