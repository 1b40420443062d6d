"""Every page of the portal and of the admin, for each persona, at 1280 and 390 px (issue 18):
no serious or critical axe-core violation and no horizontal overflow.

The pages are those of the language crawl (tests/test_languages_pages.py: every named URL of
the portal, opened with the demo's objects, `seed_demo`, by the demo's personas, the admin's
for its users), so a page added later is checked here too. Each persona's pages are visited
once per width in a real browser (the first test of that persona and width visits them all
and keeps what it found; the others read it), signed in as that persona, the admin's users
with their second factor. A case is one persona, width and URL name (all its objects).

Pages owned by others that still fail are marked xfail(strict=True) in KNOWN with what was
found, so that the suite stays green and a fix is noticed (the mark must then go)."""

import io
import urllib.parse

import pytest
from django.core.management import call_command

from ..test_languages_pages import ADMIN_PERSONAS, PERSONAS, ROUTES, pages_of
from .axe import AXE, describe, overflows, violations
from .conftest import sign_in_with_second_factor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = {"desktop": 1280, "phone": 390}

# (persona or "*", width name or "*", URL name) -> what axe or the overflow check found there.
_MFA = (
    "/accounts/2fa/ with an authenticator: axe color-contrast (serious) on .btn-danger "
    "(allauth's MFA page, the portal's button colours: not this helper's files)"
)
_TABLE = (
    "axe scrollable-region-focusable (serious) on .table-responsive at 390 px (a scrolling "
    "table that cannot take the keyboard's focus: tabindex=0 and a label; the project's page)"
)
_DESK = (
    "/desk/: axe color-contrast (serious) on a request's link (a[href$=<code>/]) in the "
    "desk's list (templates/proposals/desk*)"
)
KNOWN: dict[tuple[str, str, str], str] = {
    **{(persona, "*", "mfa_index"): _MFA for persona in PERSONAS if PERSONAS[persona]},
    ("consultant", "phone", "project_detail"): _TABLE,
    ("other city's lead", "phone", "project_detail"): _TABLE,
    ("other city's lead", "*", "desk"): _DESK,
    ("programme staff", "*", "desk"): _DESK,
    ("programme staff", "*", "desk_new"): _DESK,
    ("programme staff", "phone", "project_detail"): _TABLE,
    ("programme staff", "*", "staff_portfolio"): (
        "/staff/portfolio/: axe scrollable-region-focusable (serious) on each funnel's "
        ".table-responsive (templates/staff/)"
    ),
    **{
        ("programme staff", "*", f"admin:proposals_call_{page}"): (
            "the call's form: axe aria-prohibited-attr (serious) on Django's filter_horizontal "
            "widget of eligible_countries (.help-tooltip.search-label-icon), and at 390 px "
            "scrollable-region-focusable (proposals/admin/calls.py)"
        )
        for page in ("add", "change")
    },
    ("programme staff", "*", "admin:proposals_project_change"): (
        "the project's form: axe label (critical) on the deliverables inline's due_on inputs "
        "(#id_deliverables-N-due_on), and at 390 px scrollable-region-focusable"
    ),
    **{
        ("programme staff", "*", f"admin:proposals_financingtrack_{page}"): (
            "the financing track's form: axe label (critical) on the documents inline's file "
            "input (#id_documents-0-file), scrollable-region-focusable on #files-group"
        )
        for page in ("add", "change")
    },
    ("programme staff", "phone", "admin:proposals_deskrequest_change"): (
        "a desk request's admin page at 390 px: axe scrollable-region-focusable on "
        ".table-responsive"
    ),
    ("programme staff", "phone", "admin:proposals_proposal_change"): (
        "a proposal's admin page at 390 px: axe scrollable-region-focusable on Django's "
        "tabular inline #assignments-group (proposals/admin/proposals.py)"
    ),
}

_FOUND: dict[tuple[str, str], dict[str, list[str]]] = {}


def names_of(persona: str) -> list[str]:
    return ["404"] + [
        name for name in ROUTES if not name.startswith("admin:") or persona in ADMIN_PERSONAS
    ]


def _sign_in(page, persona):
    from allauth.mfa.models import Authenticator

    from proposals.models import User

    from ..factories import PASSWORD

    email = PERSONAS[persona]
    if email is not None:
        # The demo's accounts with the tests' password and authenticator (the staff's demo
        # authenticator has a secret of its own).
        user = User.objects.get(email=email)
        user.set_password(PASSWORD)
        user.save(update_fields=["password"])
        Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).delete()
        sign_in_with_second_factor(page, user, next_url="/")


def _visit_all(new_page, persona, width) -> dict[str, list[str]]:
    call_command("seed_demo", stdout=io.StringIO())
    page = new_page(viewport={"width": WIDTHS[width], "height": 900})
    _sign_in(page, persona)
    found: dict[str, list[str]] = {}
    for name, label, path in pages_of(persona):
        problems = found.setdefault(name, [])
        page.goto(path)
        where = f"{path} ({label})" if label else path
        # A visitor is sent to the sign-in page, which is then the page checked; a signed-in
        # persona sent there has lost their session, and the check would be of the wrong page.
        signed_out = urllib.parse.urlsplit(page.url).path.startswith("/accounts/login")
        if signed_out and PERSONAS[persona] is not None and not path.startswith("/accounts/"):
            problems.append(f"{where}: sent to the sign-in page")
            continue
        if overflows(page):
            width_px = page.evaluate("document.documentElement.scrollWidth")
            problems.append(f"{where}: overflows to {width_px} px")
        serious = violations(page)
        if serious:
            problems.append(f"{where}:\n{describe(serious)}")
    return found


def _cases():
    for persona in PERSONAS:
        for width in WIDTHS:
            for name in names_of(persona):
                marks = []
                keys = [(persona, width), (persona, "*"), ("*", width), ("*", "*")]
                for key in [(*key, name) for key in keys]:
                    if key in KNOWN:
                        marks.append(pytest.mark.xfail(strict=True, reason=KNOWN[key]))
                        break
                yield pytest.param(
                    persona, width, name, id=f"{persona}-{width}-{name}", marks=marks
                )


@pytest.mark.parametrize("persona, width, name", list(_cases()))
def test_page_is_clean_for_axe_and_fits(request, new_page, persona, width, name):
    key = (persona, width)
    if key not in _FOUND:
        request.getfixturevalue("reference_data")
        _FOUND[key] = _visit_all(new_page, persona, width)
    problems = _FOUND[key].get(name, [])
    assert not problems, "\n".join(problems)


def test_the_vendored_axe_is_the_released_file():
    import base64
    import hashlib

    digest = base64.b64encode(hashlib.sha256(AXE.read_bytes()).digest()).decode()
    assert digest == "iAlwwIFwc2DmTzTOol/5GJL1vJVnWwd2kluXCd2KaLs="  # axe-core 4.10.3
    assert AXE.read_text()[:200].startswith("/*! axe v4.10.3")
    assert "Mozilla Public" in AXE.read_text()[:400]
