"""Every page of the portal and of the admin at 1280 and 390 px (issue 18): no serious or
critical axe-core violation and no horizontal overflow.

The pages are those of the language crawl (tests/test_languages_pages.py: every named URL of
the portal, opened with the demo's objects, `seed_demo`, by the demo's personas, the admin's
for its users), so a page added later is checked here too. One test a width: the demo is
seeded once, then the personas visit their pages in a real browser, signed in (the admin's
users with their second factor), in the order of ORDER. A page (url name, label, path) is
checked, axe and overflow, by the first persona who opens it (a 200, not a redirection; the
404 page with its 404), and not loaded again by the others; what each persona saw of a page
they could not open is kept. A page that only some personas may open is thus checked by the
first of them, and the test asserts that every url name which some persona opens (the language
crawl's English pages) was checked, and that every persona checked a page of their own.

Violations still shown by pages owned by others are in KNOWN, by (url name, axe rule), with
what was found; any other violation fails, and so does an entry of KNOWN that no longer occurs
at either width (it was fixed: the entry must go)."""

import urllib.parse

import pytest

from ..test_languages_pages import PERSONAS, crawl, demo, pages_of  # noqa: F401 (demo)
from .axe import AXE, overflows, violations
from .conftest import sign_in_with_second_factor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = {"desktop": 1280, "phone": 390}

# The personas with the most pages first, so that the others load only what is left.
ORDER = [
    "programme staff",
    "reviewer",
    "consultant",
    "city lead",
    "city editor",
    "other city's lead",
    "anonymous",
]
assert sorted(ORDER) == sorted(PERSONAS)

OVERFLOW = "overflow"  # the rule of KNOWN for a page that scrolls sideways

# (url name, axe rule id) -> what was found there (at either width, by any persona): none
# now; a page that cannot be fixed at once is listed here with the reason.
KNOWN: dict[tuple[str, str], str] = {}

# width -> the entries of KNOWN found there (each must be found at some width).
_OCCURRED: dict[str, set[tuple[str, str]]] = {}


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


def _opened(page, persona, name, path) -> str | None:
    """Open the page: None if it is the page itself (a 200; the 404 page's 404), else what
    was seen instead."""
    # Its response first: only the page itself is then loaded (its styles, its scripts), not
    # the sign-in or 404 page shown instead.
    response = page.goto(path, wait_until="commit")
    if response is None:
        return "no response"
    redirected = response.request.redirected_from is not None
    expected = 404 if name == "404" else 200
    if response.status == expected and not redirected:
        page.wait_for_load_state("load")
        return None
    seen = urllib.parse.urlsplit(page.url)
    where = seen.path + (f"?{seen.query}" if seen.query else "")
    return f"{response.status}" + (f", redirected to {where}" if redirected else "")


def _check(page, where, name, persona, known: set, problems: list) -> None:
    for violation in violations(page):
        if (name, violation["rule"]) in KNOWN:
            known.add((name, violation["rule"]))
            continue
        problems.extend(
            f"{where}, {persona}: {violation['rule']} ({violation['impact']}: "
            f"{violation['help']}): {target}"
            for target in violation["targets"]
        )
    if overflows(page):
        if (name, OVERFLOW) in KNOWN:
            known.add((name, OVERFLOW))
        else:
            width_px = page.evaluate("document.documentElement.scrollWidth")
            problems.append(f"{where}, {persona}: overflows to {width_px} px")


@pytest.mark.usefixtures("demo")  # seed_demo, and an invitation to Da Nang's team
@pytest.mark.parametrize("width", list(WIDTHS))
def test_every_page_is_clean_for_axe_and_fits(new_page, width):
    checked: dict[tuple[str, str, str], str] = {}  # (name, label, path) -> persona
    seen: dict[str, dict[tuple[str, str, str], str]] = {}  # persona -> page -> not opened
    known: set[tuple[str, str]] = set()
    problems: list[str] = []
    for persona in ORDER:
        page = new_page(viewport={"width": WIDTHS[width], "height": 900})
        _sign_in(page, persona)
        seen[persona] = {}
        for name, label, path in pages_of(persona):
            key = (name, label, path)
            if key in checked:
                continue
            outcome = _opened(page, persona, name, path)
            where = f"{name} {path}" + (f" ({label})" if label else "")
            if outcome is not None:
                seen[persona][key] = outcome
                # A signed-in persona sent to the sign-in page has lost their session (what
                # follows would not be their pages).
                signed_out = "redirected to /accounts/login" in outcome
                if signed_out and PERSONAS[persona] and not path.startswith("/accounts/"):
                    problems.append(f"{where}, {persona}: sent to the sign-in page")
                continue
            checked[key] = persona
            _check(page, where, name, persona, known, problems)
        page.context.close()
    _OCCURRED[width] = known

    per_persona = {p: sum(1 for who in checked.values() if who == p) for p in ORDER}
    print(f"\n{width}: {len(checked)} pages checked; by persona: {per_persona}")
    for persona, pages in seen.items():
        for (name, label, path), outcome in pages.items():
            print(f"  {persona}: {name} {path} {label}: {outcome}")

    assert not problems, f"at {width} px ({WIDTHS[width]}):\n" + "\n".join(problems)
    # Every url name that some persona opens in the language crawl (in English, through
    # Django's test client) was checked here: the crawl is asked of the names not checked.
    names = {name for name, _label, _path in checked}
    unchecked = set()
    for persona in ORDER:
        only = {(n, label) for n, label, _path in pages_of(persona) if n not in names}
        unchecked |= {name for name, _label in crawl(persona, "en", only=only).pages}
    assert not unchecked, f"opened by some persona, not checked at {width}: {sorted(unchecked)}"
    idle = [persona for persona, count in per_persona.items() if not count]
    assert not idle, f"personas who checked no page at {width}: {idle}"
    if set(_OCCURRED) == set(WIDTHS):  # the last width: what KNOWN lists must still occur
        fixed = set(KNOWN) - set().union(*_OCCURRED.values())
        assert not fixed, "fixed: remove it from KNOWN: " + ", ".join(map(str, sorted(fixed)))


def test_the_vendored_axe_is_the_released_file():
    import base64
    import hashlib

    digest = base64.b64encode(hashlib.sha256(AXE.read_bytes()).digest()).decode()
    assert digest == "iAlwwIFwc2DmTzTOol/5GJL1vJVnWwd2kluXCd2KaLs="  # axe-core 4.10.3
    assert AXE.read_text()[:200].startswith("/*! axe v4.10.3")
    assert "Mozilla Public" in AXE.read_text()[:400]
