"""Who is signed in, without two ORM queries on every page.

Every signed-in request needs its user, and staff pages their permissions. Django's backend
fetches both from the database each time (one query for the user, two for the permissions),
and the ORM's own work on those queries was a third of a signed-in page's time on the
benchmark. This backend keeps them in the shared cache (Redis in production, never a
per-process memory), and forgets them whenever they change:

- a user's row: cached with the user's version number when it was read, and used only while
  that is still the version; the version is bumped on every save or delete of the user (a
  password change, deactivation, `is_staff`), at once and after commit;
- permissions: a version number bumped whenever group membership, a user's or a group's
  permissions, a group or a permission changes; a cached set is used only while that is still
  the version (`proposals.cache.Slot`, as the row).

A lost version restarts from the clock (larger than any it held), so old entries are never
read again; an entry written while a change could not be recorded (cache unreachable) lives
USER_TTL at most.

The session still checks the password hash against the cached row, so a password change
signs the other sessions out exactly as with Django's own backend.
"""

from allauth.account.auth_backends import AuthenticationBackend
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from .cache import Slot, bump_version

# Bounds how long an entry can outlive a change that could not be forgotten (cache down).
USER_TTL = 300
PERMISSIONS_VERSION_KEY = "auth:permissions-version"


def user_version_key(user_id) -> str:
    return f"auth:user-version:{user_id}"


class PortalBackend(AuthenticationBackend):
    """allauth's backend (sign in by email), with the user and their permissions cached."""

    def get_user(self, user_id):
        # The row is cached with the user's version at the time it was read, and used only
        # while that is still the user's version (and the cache's epoch: bumped when writes
        # to the cache, a version bump among them, were lost while it was unreachable): a
        # request that read the row just before a change committed stores it with the old
        # version, which the change has bumped. Row and version come in one round trip.
        slot = Slot("auth:user", [user_version_key(user_id)], [user_id])
        if slot.hit:
            user = slot.value
        else:
            user = super().get_user(user_id)
            if user is None:
                return None
            slot.store(user, seconds=USER_TTL)
        return user if self.user_can_authenticate(user) else None

    def get_all_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            # The set and the permissions' version in one round trip.
            slot = Slot(
                "auth:perms", [PERMISSIONS_VERSION_KEY], [user_obj.pk, int(user_obj.is_superuser)]
            )
            if slot.hit:
                perms = slot.value
            else:
                perms = super().get_all_permissions(user_obj)
                slot.store(perms, seconds=USER_TTL)
            user_obj._perm_cache = perms
        return user_obj._perm_cache


def forget_user(sender, instance, **kwargs) -> None:
    key = user_version_key(instance.pk)
    bump_version(key)
    # Again after commit: a request may have read the old row during the transaction.
    transaction.on_commit(lambda: bump_version(key))


def permissions_changed(sender, **kwargs) -> None:
    bump_version(PERMISSIONS_VERSION_KEY)
    transaction.on_commit(lambda: bump_version(PERMISSIONS_VERSION_KEY))


def connect() -> None:
    User = get_user_model()
    for signal in (post_save, post_delete):
        signal.connect(forget_user, sender=User, dispatch_uid=f"auth-forget-user-{signal}")
        for model in (Group, Permission):
            signal.connect(
                permissions_changed, sender=model, dispatch_uid=f"auth-perms-{model}-{signal}"
            )
    for through in (
        User.groups.through,
        User.user_permissions.through,
        Group.permissions.through,
    ):
        m2m_changed.connect(
            permissions_changed, sender=through, dispatch_uid=f"auth-perms-{through}"
        )
    # is_superuser is part of a cached set's key and is_active is checked before the cache, so
    # a save of the user needs no new version.
