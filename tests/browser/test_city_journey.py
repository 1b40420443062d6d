"""An official signs up, registers a city, staff verify it in the admin, the official sees it."""

import os
import re

import pytest
from django.core import mail

from proposals.models import City

from ..factories import PASSWORD, pdf_bytes
from .conftest import sign_in_with_second_factor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_official_registers_a_city_and_staff_verify_it(new_page, staff, tmp_path, settings):
    settings.DEBUG = False
    official = new_page(viewport={"width": 390, "height": 844})  # a phone

    # Sign up.
    official.goto("/")
    official.get_by_role("link", name="Create an account").click()
    official.get_by_label("Email").fill("hoa.le@hue.gov.vn")
    official.get_by_label("Full name").fill("Lê Thị Hoa")
    official.get_by_label("Position").fill("Deputy director, Department of Science")
    official.get_by_label("Your time zone").select_option("Asia/Ho_Chi_Minh")
    official.get_by_label("Password").first.fill(PASSWORD)
    official.get_by_label("Password (again)").fill(PASSWORD)
    official.get_by_role("button", name="Sign Up").click()
    official.get_by_role("heading", name="Verify Your Email Address").wait_for()

    # Verify the address from the email, then sign in.
    link = re.search(r"https?://[^/\s]+(/accounts/confirm-email/\S+/)", mail.outbox[-1].body)[1]
    official.goto(link)
    official.get_by_role("button", name="Confirm").click()
    official.get_by_label("Email").fill("hoa.le@hue.gov.vn")
    official.get_by_label("Password").fill(PASSWORD)
    official.get_by_role("button", name="Sign In").click()
    official.get_by_role("link", name="My cities").first.wait_for()

    # Register a city.
    official.goto("/cities/register/")
    official.get_by_label("Country").select_option(label="Viet Nam")
    official.get_by_label("Kind").select_option(label="City or municipality")
    official.get_by_label("Name").fill("Huế")
    official.get_by_label("Province or region").fill("Thừa Thiên Huế")
    official.get_by_label("Population").fill("1200000")
    letter = tmp_path / "letter.pdf"
    letter.write_bytes(pdf_bytes("Hue"))
    official.get_by_label("Authorisation letter (PDF)").set_input_files(str(letter))
    official.get_by_role("button", name="Register").click()
    official.get_by_role("heading", name=re.compile("Huế")).wait_for()
    assert official.get_by_text("Pending verification").is_visible()
    official.screenshot(path=str(tmp_path / "registered.png"), full_page=True)

    # Staff verify it in the admin panel.
    admin = new_page()
    sign_in_with_second_factor(admin, staff)
    admin.goto("/admin/proposals/city/?verification_status__exact=pending&q=Hu")
    city = City.objects.get(name="Huế")
    admin.locator(f"input[name='_selected_action'][value='{city.pk}']").check()
    admin.locator("select[name='action']").select_option("verify_selected")
    admin.get_by_role("button", name="Go").click()
    admin.get_by_text("1 city verified.").wait_for()

    # The official sees the city verified.
    official.reload()
    assert official.get_by_text("Verified", exact=True).is_visible()
    official.goto("/cities/")
    row = official.get_by_role("row", name=re.compile("Huế"))
    assert re.sub(r"\s+", " ", row.inner_text()).strip() == "Huế Viet Nam Lead Verified"
    if os.environ.get("SMARTJAMP_SCREENSHOTS"):
        official.screenshot(
            path=os.environ["SMARTJAMP_SCREENSHOTS"] + "/my-cities.png", full_page=True
        )
