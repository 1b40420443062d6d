"""Sign-up takes the browser's zone where JavaScript is on (static/js/zone.js), the country's
without it (tests/views/test_accounts.py)."""

import pytest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_sign_up_takes_the_browsers_zone_when_it_is_one_of_the_list(new_page, reference_data):
    page = new_page(timezone_id="Asia/Bangkok")
    page.goto("/accounts/signup/")
    assert page.locator("select[name=time_zone]").input_value() == "Asia/Bangkok"
    # A zone the list does not offer leaves the country's default.
    page = new_page(timezone_id="America/Lima")
    page.goto("/accounts/signup/")
    assert page.locator("select[name=time_zone]").input_value() == ""


def test_without_javascript_the_zone_stays_the_countrys(new_page, reference_data):
    page = new_page(timezone_id="Asia/Bangkok", java_script_enabled=False)
    page.goto("/accounts/signup/")
    assert page.locator("select[name=time_zone]").input_value() == ""
