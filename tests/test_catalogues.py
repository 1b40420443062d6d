"""The languages the portal offers are complete (issue 17): every message of the portal has its
translation in each of them, the compiled catalogues are those of the translations, and
no message is missing from them (the catalogue is made again from the code and compared)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation

ROOT = Path(__file__).resolve().parent.parent
OFFERED = [code for code, _name in settings.LANGUAGES if code != "en"]
needs_gettext = pytest.mark.skipif(
    shutil.which("msgfmt") is None, reason="needs GNU gettext (msgfmt, xgettext)"
)


def catalogue(code: str) -> Path:
    return ROOT / "locale" / code / "LC_MESSAGES" / "django.po"


def msgids(po: Path) -> set[str]:
    """The messages of a catalogue (msgid, with msgctxt where there is one)."""
    import re

    text = po.read_text(encoding="utf-8")
    found = set()
    for block in text.split("\n\n"):
        lines = [line for line in block.splitlines() if not line.startswith("#")]
        joined = "\n".join(lines)
        match = re.search(r'^msgid ((?:".*"\n?)+)', joined, re.M)
        if match:
            value = "".join(re.findall(r'"(.*)"', match.group(1)))
            context = re.search(r'^msgctxt "(.*)"', joined, re.M)
            if value:
                found.add((context.group(1) if context else "") + "\x04" + value)
    return found


def test_only_complete_languages_are_offered():
    assert [code for code, _name in settings.LANGUAGES] == ["en", "ja", "id", "th", "vi"]
    for code in OFFERED:
        assert catalogue(code).exists() and catalogue(code).with_suffix(".mo").exists(), code


@needs_gettext
@pytest.mark.parametrize("code", OFFERED)
def test_every_message_is_translated_and_compiled(code, tmp_path):
    compiled = tmp_path / "django.mo"
    result = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", str(compiled), str(catalogue(code))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    statistics = result.stderr.strip().splitlines()[-1]
    assert "untranslated" not in statistics and "fuzzy" not in statistics, statistics
    # The compiled catalogue the portal loads is that of these translations.
    assert compiled.read_bytes() == catalogue(code).with_suffix(".mo").read_bytes(), (
        f"locale/{code}: run `python manage.py compilemessages`"
    )


@needs_gettext
def test_no_message_of_the_code_is_missing_from_the_catalogues(tmp_path):
    # The catalogue made again from the code, in a copy of it, holds no message the
    # committed catalogues lack.
    copy = tmp_path / "src"
    copy.mkdir()
    for name in ("manage.py", "proposals", "smartjamp", "templates"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, copy / name)
    (copy / "locale").mkdir()
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "ja", "-v0"],
        cwd=copy,
        check=True,
        capture_output=True,
    )
    made = msgids(copy / "locale" / "ja" / "LC_MESSAGES" / "django.po")
    for code in OFFERED:
        missing = made - msgids(catalogue(code))
        assert not missing, f"locale/{code} lacks: " + "; ".join(
            sorted(m.split("\x04")[1][:60] for m in missing)[:10]
        )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("code", "calls"), [("ja", "公募"), ("vi", "kêu gọi"), ("th", "ประกาศ"), ("id", "anggilan")]
)
def test_a_page_is_in_the_language_it_says(client, code, calls):
    page = client.get("/calls/", HTTP_ACCEPT_LANGUAGE=code).content.decode()
    assert f'<html lang="{code}"' in page
    assert calls in page
    with translation.override(code):
        assert translation.gettext("Calls") != "Calls"


@pytest.mark.django_db
def test_the_header_s_switcher_changes_the_language_of_the_pages(client):
    page = client.get("/calls/").content.decode()
    assert 'action="/language/"' in page and '<option value="ja" lang="ja">日本語</option>' in page
    response = client.post("/language/", {"language": "vi", "next": "/calls/"})
    assert response.status_code == 302 and response["Location"] == "/calls/"
    assert '<html lang="vi"' in client.get("/calls/").content.decode()
    # A foreign address is not followed.
    response = client.post("/language/", {"language": "ja", "next": "https://evil.example/"})
    assert response["Location"] == "/"


@pytest.mark.django_db
def test_a_signed_in_reader_s_choice_is_their_profile_s_language(client, danang_lead):
    client.force_login(danang_lead)
    client.post("/language/", {"language": "th", "next": "/proposals/"})
    danang_lead.refresh_from_db()
    assert danang_lead.language == "th"
    assert '<html lang="th"' in client.get("/proposals/").content.decode()
    client.post("/language/", {"language": "km", "next": "/proposals/"})  # not offered
    danang_lead.refresh_from_db()
    assert danang_lead.language == "th"


def test_the_scripts_render_with_the_systems_fonts_and_thai_wraps():
    css = (ROOT / "static" / "css" / "site.css").read_text(encoding="utf-8")
    stack = css.split("--bs-body-font-family:", 1)[1].split(";", 1)[0]
    for font in ("Noto Sans Thai", "Hiragino Sans", "Noto Sans Khmer", "Noto Sans Myanmar"):
        assert f'"{font}"' in stack, font
    assert stack.strip().endswith("sans-serif")
    assert "@font-face" not in css and "@import" not in css and "url(" not in css  # no web font
    assert ":lang(th), :lang(lo) { overflow-wrap: anywhere; }" in css


@pytest.mark.django_db
def test_reference_names_are_shown_in_the_readers_language(reference_data):
    """Countries, focus areas and sectors the portal ships are in the catalogue (their English
    names in reference_data, every one of data/countries.csv) and shown translated."""
    from proposals.models import Country, FocusArea, Sector
    from proposals.reference_data import COUNTRY_NAMES, read_rows

    assert sorted(COUNTRY_NAMES) == sorted(row["name"] for row in read_rows("countries.csv"))
    rows = [*Country.objects.all(), *FocusArea.objects.all(), *Sector.objects.all()]
    for code, _name in settings.LANGUAGES[1:]:
        catalogue = translation.trans_real.translation(code)._catalog  # some names stay alike
        assert [row.name for row in rows if row.name not in catalogue] == [], code
    with translation.override("ja"):
        assert str(Country.objects.get(iso2="VN")) == "ベトナム"
        assert all(str(row) != row.name for row in rows)


def test_every_field_and_model_name_is_translatable():
    """The admin's and the forms' labels come from the models: each one is marked for
    translation (a field without a verbose_name is labelled in English in every language)."""
    from django.apps import apps
    from django.utils.functional import Promise

    plain = [
        f"{model.__name__}.{field.name}"
        for model in apps.get_app_config("proposals").get_models()
        for field in model._meta.get_fields()
        if not field.auto_created and field.name != "id"
        if not isinstance(field.verbose_name, Promise)
    ] + [
        f"{model.__name__} Meta"
        for model in apps.get_app_config("proposals").get_models()
        if not isinstance(model._meta.verbose_name, Promise)
        or not isinstance(model._meta.verbose_name_plural, Promise)
    ]
    assert plain == []
