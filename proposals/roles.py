"""The groups that give programme staff and MLIT reviewers their permissions in the admin."""

from django.contrib.auth.models import Group, Permission

PROGRAMME_STAFF = "Programme staff"
REVIEWERS = "MLIT reviewers"

# Staff manage the objects of the domain app, with least privilege over accounts: they may
# view and edit city officials' profiles (never email addresses, passwords or admin users:
# proposals/admin/cities.py), but not create or delete accounts, nor touch allauth's email
# addresses (`account.*`) or second factors (`mfa.*`); and nobody edits the audit trail.
_STAFF_EXCLUDED = {
    "user": {"add_user", "delete_user"},
    "auditevent": {"add_auditevent", "change_auditevent", "delete_auditevent"},
}


def _staff_permissions():
    permissions = Permission.objects.filter(content_type__app_label="proposals")
    for model, codenames in _STAFF_EXCLUDED.items():
        permissions = permissions.exclude(content_type__model=model, codename__in=codenames)
    return permissions


def ensure_role_groups(**kwargs) -> None:
    """Create the role groups and give them their permissions (safe to run again)."""
    staff, _ = Group.objects.get_or_create(name=PROGRAMME_STAFF)
    staff.permissions.set(_staff_permissions())
    reviewers, _ = Group.objects.get_or_create(name=REVIEWERS)
    # Reviewers see only the assignments list in the admin; everything else they reach goes
    # through permissions.get_assignment_for_reviewer, which checks that it is their own.
    reviewers.permissions.set(
        Permission.objects.filter(
            content_type__app_label="proposals", codename="view_reviewassignment"
        )
    )
