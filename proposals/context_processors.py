"""What every page's layout needs."""

import functools

from django.urls import get_script_prefix, get_urlconf, reverse

NAV_NAMES = (
    "home",
    "call_list",
    "my_proposals",
    "my_cities",
    "my_projects",
    "staff_dashboard",
    "admin:index",
    "notifications",
    "profile",
    "account_login",
    "account_signup",
    "account_logout",
)


@functools.lru_cache(maxsize=16)
def _nav_urls(prefix: str, urlconf) -> dict[str, str]:
    return {name.replace("admin:index", "admin"): reverse(name, urlconf) for name in NAV_NAMES}


def nav(request) -> dict:
    """The layout's links, reversed once per process instead of on every page (they take no
    arguments, so they change only with the URL configuration and the script prefix)."""
    return {"nav": _nav_urls(get_script_prefix(), get_urlconf())}
