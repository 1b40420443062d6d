import os
import shutil
import urllib.parse

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def chromium():
    if not shutil.which(CHROMIUM):
        pytest.skip(f"Chromium is not installed at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed")
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are
    # still plain synchronous code.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def new_page(chromium, live_server):
    contexts = []

    def make(**options):
        context = chromium.new_context(base_url=live_server.url, **options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def sign_in_with_second_factor(page, user, next_url="/admin/"):
    """An admin user signs in as in production: password, then their authenticator's code
    (the user is given a TOTP authenticator first if they have none)."""
    import time

    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
    from allauth.mfa.utils import encrypt

    from ..factories import PASSWORD

    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    Authenticator.objects.get_or_create(
        user=user, type=Authenticator.Type.TOTP, defaults={"data": {"secret": encrypt(secret)}}
    )
    page.goto(f"/admin/login/?next={next_url}")  # the admin's door leads to the portal's login
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    if time.time() % 30 > 25:  # a code about to expire may be checked in the next period
        time.sleep(30 - time.time() % 30 + 0.1)
    page.get_by_label("Code").fill(format_hotp_value(hotp_value(secret, int(time.time()) // 30)))
    page.get_by_role("button", name="Sign In").click()
    # The path itself: "**/" would match the second factor's own page, which ends in "/" too.
    page.wait_for_url(lambda url: urllib.parse.urlsplit(url).path == next_url)


@pytest.fixture(autouse=True)
def _empty_cache(transactional_db):
    """Browser tests commit: a flush empties the models' tables but not the database cache's,
    where allauth's rate limits (one confirmation email per address in 3 minutes) and cached
    pages would otherwise carry over from one test to the next."""
    from django.core.cache import cache

    cache.clear()


def assert_cards(row, width, label):
    """Below 576 px `row` is a card whose cells show their column's name before the value."""
    cell = row.locator(f'[data-label="{label}"]')
    shown = cell.evaluate("c => getComputedStyle(c, '::before').content")
    assert (row.evaluate("r => getComputedStyle(r).display") == "block") == (width < 576)
    assert shown == (f'"{label}"' if width < 576 else "none")
