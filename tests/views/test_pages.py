import re
from pathlib import Path

import pytest
from django.urls import reverse

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


@pytest.mark.django_db
def test_home_explains_the_programme_with_security_headers(client):
    response = client.get(reverse("home"))
    page = response.content.decode()
    assert "<h1>Smart JAMP: Japan's support for smart cities in ASEAN</h1>" in page
    assert 'href="/accounts/signup/"' in page
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in response["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"


@pytest.mark.django_db
def test_home_for_a_signed_in_official_links_my_cities(client, danang_lead):
    client.force_login(danang_lead)
    page = client.get(reverse("home")).content.decode()
    assert 'href="/cities/"' in page
    assert "Admin panel" not in page


@pytest.mark.django_db
def test_navigation_shows_the_admin_to_staff(client, staff):
    client.force_login(staff)
    assert 'href="/admin/"' in client.get(reverse("home")).content.decode()


# Emails are not pages: mail clients need their styles inline, and no CSP applies to them.
PAGES = sorted(p for p in TEMPLATES.rglob("*.html") if "emails" not in p.parts)


@pytest.mark.parametrize("path", PAGES, ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_templates_have_no_inline_code_nor_outside_assets(path):
    text = path.read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), "inline script"
    assert not re.search(r"<style\b|\sstyle=", text), "inline style"
    assert not re.search(r"""(?:src|href)=["']https?://""", text), "asset from another site"
