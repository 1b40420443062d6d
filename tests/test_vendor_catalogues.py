"""The third-party messages the portal shows are complete in each language it offers (issue 17).

Pages show messages of django-allauth (sign-up, sign-in, email confirmation, password reset, the
second-factor pages and the emails) and of Django itself (admin, auth, humanize, contenttypes,
sessions and django/conf: validation errors, timesince's "4 weeks, 1 day"). Their own catalogues
lack some languages (allauth has no Vietnamese) or leave messages untranslated (Django's Thai and
Vietnamese); locale/vendor/<lang> holds the translations of exactly those messages, and
settings.LOCALE_PATHS loads it after the portal's own catalogue (locale/), before the packages'.

Each component's English catalogue lists every message of its current source, so an upgrade of
allauth or Django that adds a message makes the first test fail, naming what to translate.
"""

import gettext
import re
import subprocess
from datetime import timedelta
from pathlib import Path

import allauth
import django
import pytest
from django.conf import settings
from django.utils import timezone, translation
from django.utils.timesince import timeuntil

from .test_catalogues import needs_gettext

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "locale" / "vendor"
OFFERED = [code for code, _name in settings.LANGUAGES if code != "en"]
DJANGO = Path(django.__file__).resolve().parent
COMPONENTS = {
    "allauth": Path(allauth.__file__).resolve().parent / "locale",
    "django": DJANGO / "conf" / "locale",
    "admin": DJANGO / "contrib" / "admin" / "locale",
    "auth": DJANGO / "contrib" / "auth" / "locale",
    "humanize": DJANGO / "contrib" / "humanize" / "locale",
    "contenttypes": DJANGO / "contrib" / "contenttypes" / "locale",
    "sessions": DJANGO / "contrib" / "sessions" / "locale",
}
# printf placeholders (%(name)s, %s, %d, %r, …) and str.format fields ({name}, {}).
PLACEHOLDER = re.compile(
    r"%\([^)]*\)[-#0 +]*\d*(?:\.\d+)?[a-zA-Z]|%[-#0 +]*\d*(?:\.\d+)?[sdifrxXeEgGc]|\{[^{}]*\}"
)


def vendor_po(code: str) -> Path:
    return VENDOR / code / "LC_MESSAGES" / "django.po"


def _unquote(text: str) -> str:
    escapes = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "r": "\r"}
    return re.sub(r"\\(.)", lambda m: escapes.get(m.group(1), "\\" + m.group(1)), text)


def entries(po: Path) -> list[dict]:
    """The entries of a .po file: msgctxt, msgid, msgid_plural, msgstr[n] and flags, without
    the header and obsolete (#~) entries."""
    found = []
    for block in re.split(r"\n\s*\n", po.read_text(encoding="utf-8")):
        entry: dict = {"flags": set(), "msgstr": {}}
        field = None
        for line in block.splitlines():
            if line.startswith("#,"):
                entry["flags"] |= {flag.strip() for flag in line[2:].split(",")}
            elif line.startswith("#"):
                continue
            elif match := re.match(
                r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?) "(.*)"$', line
            ):
                keyword, index, value = match.groups()
                field = ("msgstr", int(index or 0)) if keyword.startswith("msgstr") else keyword
                if isinstance(field, tuple):
                    entry["msgstr"][field[1]] = _unquote(value)
                else:
                    entry[field] = _unquote(value)
            elif line.startswith('"') and field is not None:
                value = _unquote(line.strip()[1:-1])
                if isinstance(field, tuple):
                    entry["msgstr"][field[1]] += value
                else:
                    entry[field] += value
        if entry.get("msgid"):
            found.append(entry)
    return found


def key(entry: dict) -> str:
    """An entry's key in a compiled catalogue: "context\\x04msgid", or the msgid."""
    return f"{entry['msgctxt']}\x04{entry['msgid']}" if "msgctxt" in entry else entry["msgid"]


def compiled(mo: Path) -> set[str]:
    """The messages a compiled catalogue translates (msgfmt leaves out the untranslated and
    fuzzy ones): the keys of singular entries and of plural entries alike."""
    if not mo.exists():
        return set()
    with mo.open("rb") as file:
        catalog = gettext.GNUTranslations(file)._catalog
    translated = set()
    for message, text in catalog.items():
        if isinstance(message, tuple):  # (msgid, plural index)
            if text:
                translated.add(message[0])
        elif message and text:
            translated.add(message)
    return translated


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text))


@pytest.mark.parametrize("component", COMPONENTS)
@pytest.mark.parametrize("code", OFFERED)
def test_every_third_party_message_is_translated(code, component):
    locale = COMPONENTS[component]
    english = entries(locale / "en" / "LC_MESSAGES" / "django.po")
    assert len(english) > 5, f"{component}: no English catalogue at {locale}"
    own = compiled(locale / code / "LC_MESSAGES" / "django.mo")
    ours = compiled(vendor_po(code).with_suffix(".mo"))
    missing = [key(entry) for entry in english if key(entry) not in own | ours]
    assert not missing, (
        f"{component} ({code}): {len(missing)} messages translated neither by its own catalogue "
        f"nor by locale/vendor/{code}: " + "; ".join(m.replace("\x04", " | ")[:70] for m in missing)
    )


@pytest.mark.parametrize("code", OFFERED)
def test_the_vendor_catalogue_only_completes_and_keeps_the_placeholders(code):
    assert vendor_po(code).exists(), f"locale/vendor/{code} is missing"
    text = vendor_po(code).read_text(encoding="utf-8")
    assert '"Plural-Forms: nplurals=1; plural=0;\\n"' in text  # one form in ja, th, id and vi
    owned = {}
    for component, locale in COMPONENTS.items():
        english = {key(entry) for entry in entries(locale / "en" / "LC_MESSAGES" / "django.po")}
        own = compiled(locale / code / "LC_MESSAGES" / "django.mo")
        for message in english - own:
            owned.setdefault(message, component)
    wrong = []
    for entry in entries(vendor_po(code)):
        message = key(entry)
        if message not in owned:
            wrong.append(f"not a message a package leaves untranslated: {message[:60]}")
            continue
        if "fuzzy" in entry["flags"] or not entry["msgstr"] or not all(entry["msgstr"].values()):
            wrong.append(f"untranslated: {message[:60]}")
            continue
        if "msgid_plural" in entry and list(entry["msgstr"]) != [0]:
            wrong.append(f"not one plural form: {message[:60]}")
        expected = placeholders(entry["msgid"]) | placeholders(entry.get("msgid_plural", ""))
        for translation_ in entry["msgstr"].values():
            if placeholders(translation_) != expected:
                wrong.append(
                    f"placeholders {sorted(placeholders(translation_))} instead of "
                    f"{sorted(expected)}: {message[:60]}"
                )
    assert not wrong, f"locale/vendor/{code}:\n" + "\n".join(wrong)


@needs_gettext
@pytest.mark.parametrize("code", OFFERED)
def test_the_vendor_catalogue_is_compiled(code, tmp_path):
    po, mo = vendor_po(code), vendor_po(code).with_suffix(".mo")
    assert mo.exists(), f"locale/vendor/{code}: run `python manage.py compilemessages`"
    # Not older than its .po (a second's grace: a checkout writes django.mo just before .po).
    assert mo.stat().st_mtime >= po.stat().st_mtime - 1, (
        f"locale/vendor/{code}: django.mo is older than django.po: run compilemessages"
    )
    made = tmp_path / "django.mo"
    result = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", str(made), str(po)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    statistics = result.stderr.strip().splitlines()[-1]
    assert "untranslated" not in statistics and "fuzzy" not in statistics, statistics
    assert made.read_bytes() == mo.read_bytes(), (
        f"locale/vendor/{code}: run `python manage.py compilemessages`"
    )


def test_the_settings_load_the_vendor_catalogues_after_the_portal_s_own():
    paths = [Path(path).resolve() for path in settings.LOCALE_PATHS]
    assert (ROOT / "locale").resolve() in paths and VENDOR.resolve() in paths, (
        'settings.LOCALE_PATHS lacks BASE_DIR / "locale" / "vendor"'
    )
    # The first of LOCALE_PATHS wins: the portal's own wording before the vendor's.
    assert paths.index((ROOT / "locale").resolve()) < paths.index(VENDOR.resolve())


@pytest.fixture
def vendor_loaded(settings):
    """The catalogues as the settings load them, with locale/vendor whether or not the line is
    in settings yet (pytest-django's settings fixture resets Django's translation caches)."""
    paths = [Path(path) for path in settings.LOCALE_PATHS]
    if VENDOR.resolve() not in [path.resolve() for path in paths]:
        settings.LOCALE_PATHS = [*paths, VENDOR]
    yield
    translation.trans_real._translations = {}


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        ("vi", "Sign In", "Đăng nhập"),
        ("vi", "Email address", "Địa chỉ email"),
        ("vi", "Please Confirm Your Email Address", "Vui lòng xác nhận địa chỉ email của quý vị"),
        ("vi", "Two-Factor Authentication", "Xác thực hai yếu tố"),
        ("vi", "Enter a valid domain name.", "Vui lòng nhập tên miền hợp lệ."),
        ("th", "Set password", "ตั้งรหัสผ่าน"),
        ("th", "This password is too common.", "รหัสผ่านนี้ใช้กันทั่วไปเกินไป"),
        ("ja", "Sign In", "ログイン"),
    ],
)
def test_the_pages_messages_are_in_the_reader_s_language(vendor_loaded, code, message, expected):
    with translation.override(code):
        assert translation.gettext(message) == expected


@pytest.mark.parametrize(("code", "words"), [("vi", ["tuần", "ngày"]), ("th", ["สัปดาห์", "วัน"])])
def test_the_time_left_is_in_the_reader_s_language(vendor_loaded, code, words):
    with translation.override(code):
        left = timeuntil(timezone.now() + timedelta(days=29, minutes=1))
        singular = translation.ngettext("%(num)d day", "%(num)d days", 1) % {"num": 1}
        password = translation.ngettext(
            "This password is too short. It must contain at least %d character.",
            "This password is too short. It must contain at least %d characters.",
            12,
        )
    assert "week" not in left and "day" not in left, left
    assert all(word in left for word in words), left
    assert "day" not in singular, singular
    assert "%d" in password and "characters" not in password, password
