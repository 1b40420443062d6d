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
    reviewers, _ = Group.objects.get_or_create(name=REVIEWERS)
    # Reviewers see only the assignments list in the admin; everything else they reach goes
    # through permissions.get_assignment_for_reviewer, which checks that it is their own.
    reviewers.permissions.set(
        Permission.objects.filter(
            content_type__app_label="proposals", codename="view_reviewassignment"
        )
    )
