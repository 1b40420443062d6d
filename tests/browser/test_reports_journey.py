"""Staff filter the dashboard to one country and download CSV and Excel that match the page."""

import csv
import io

import openpyxl
import pytest

from proposals.models import Proposal

from ..factories import make_proposal
from .conftest import sign_in_with_second_factor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_filter_and_download(new_page, call, danang, danang_lead, cebu, cebu_lead, staff):
    for title in ("Đèn đường thông minh", "Cảnh báo lũ"):
        make_proposal(call, danang, danang_lead, title=title, complete=False)
    make_proposal(call, cebu, cebu_lead, title="Bus fares", complete=False)

    page = new_page()
    sign_in_with_second_factor(page, staff, next_url="/")
    page.get_by_role("link", name="Staff dashboard").click()
    page.get_by_text("Filters").click()
    page.get_by_role("combobox", name="Country").select_option(label="Viet Nam")
    page.get_by_role("button", name="Apply").click()

    table = page.locator("#proposals-table tbody tr")
    shown = sorted(table.nth(i).locator("td").nth(1).inner_text() for i in range(table.count()))
    assert shown == ["Cảnh báo lũ", "Đèn đường thông minh"]

    with page.expect_download() as download:
        page.get_by_role("link", name="CSV", exact=True).click()
    text = download.value.path().read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert sorted(row[1] for row in rows[1:]) == shown

    with page.expect_download() as download:
        page.get_by_role("link", name="Excel", exact=True).click()
    sheet = openpyxl.load_workbook(io.BytesIO(download.value.path().read_bytes())).active
    assert sorted(row[1] for row in sheet.iter_rows(min_row=2, values_only=True)) == shown
    assert Proposal.objects.count() == 3
