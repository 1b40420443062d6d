"""Issue 18, item 10: the demo data a first run shows is coherent. Signed in as Da Nang's lead
from the accounts `make run` lists, each proposal reads as its own (the night market is lit,
not fare-integrated) and its files are named for what they are; on a desktop and on a 390 px
phone, no page scrolling sideways and no serious or critical axe-core violation."""

import io
import urllib.parse

import pytest
from django.core.management import call_command

from proposals.management.commands.seed_demo import DEMO_PASSWORD

from .axe import check

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = {"desktop": 1280, "phone": 390}


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_the_demo_lead_reads_each_proposal_with_its_own_texts_and_files(
    new_page, reference_data, private_files, width
):
    call_command("seed_demo", stdout=io.StringIO())
    page = new_page(viewport={"width": width, "height": 900})
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill("lead.danang@example.org")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(lambda url: urllib.parse.urlsplit(url).path != "/accounts/login/")
    page.goto("/proposals/")
    check(page)
    page.get_by_role("link", name="Night market lighting").first.click()
    page.get_by_role("heading", name="Night market lighting").first.wait_for()
    text = page.locator("main").inner_text()
    assert "safe lighting for Da Nang" in text and "fare" not in text.lower()
    assert page.get_by_role("link", name="concept-note.pdf").count() == 1
    assert page.get_by_text("authorisation-letter.pdf").count() == 0
    check(page)
    page.goto("/proposals/")
    page.get_by_role("link", name="Flood sensors in the Han River").first.click()
    page.get_by_role("heading", name="Flood sensors in the Han River").first.wait_for()
    assert "Water-level sensors" in page.locator("main").inner_text()
    for name in ("concept-note.pdf", "map.pdf"):
        assert page.get_by_role("link", name=name).count() == 1
    check(page)
