from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class ProposalsConfig(AppConfig):
    name = "proposals"
    verbose_name = _("Smart JAMP")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from smartjamp import (
            cache_versions,
            security,  # noqa: F401  (second-factor receivers)
        )

        from . import audit, signals  # noqa: F401  (receivers)
        from .notifications import status_changed
        from .roles import ensure_role_groups
        from .services import status_changed as status_changed_signal

        audit.connect()
        cache_versions.connect()
        status_changed_signal.connect(status_changed, dispatch_uid="smartjamp_notify_status")

        # Permissions exist only after migrate has created them (for every app), so the groups
        # are brought up to date after each app is migrated.
        post_migrate.connect(ensure_role_groups, dispatch_uid="smartjamp_role_groups")
