from django.apps import AppConfig
from django.core import checks
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

        from . import audit, signals, summaries  # noqa: F401  (receivers)
        from .notifications import status_changed
        from .roles import ensure_role_groups
        from .services import status_changed as status_changed_signal

        audit.connect()
        cache_versions.connect()
        summaries.connect()
        status_changed_signal.connect(status_changed, dispatch_uid="smartjamp_notify_status")

        # Permissions exist only after migrate has created them (for every app), so the groups
        # are brought up to date after each app is migrated.
        post_migrate.connect(ensure_role_groups, dispatch_uid="smartjamp_role_groups")
        checks.register(programme_zone_check)


def programme_zone_check(app_configs=None, databases=None, **kwargs):
    """On SQLite, exports format the programme's times with its fixed offset (see reports)."""
    from django.conf import settings
    from django.db import connections

    from .reports import fixed_utc_offset

    if connections["default"].vendor != "sqlite" or fixed_utc_offset(settings.PROGRAMME_TIME_ZONE):
        return []
    return [
        checks.Error(
            f"PROGRAMME_TIME_ZONE {settings.PROGRAMME_TIME_ZONE} has summer time, which SQLite "
            "cannot convert; use PostgreSQL, or a zone with a fixed offset such as Asia/Tokyo.",
            id="smartjamp.E001",
        )
    ]
