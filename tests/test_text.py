import pytest

from proposals.text import normalise_name
from smartjamp.uploads import sanitise_file_name


@pytest.mark.parametrize(
    "spelling", ["Da Nang", "Đà Nẵng", "da  nang", " DA NANG ", "Ðà Nẵng", "Danang", "Da-Nang"]
)
def test_normalise_name_folds_case_accents_and_spacing(spelling):
    assert normalise_name(spelling) == "danang"


def test_normalise_name_keeps_different_places_apart():
    assert normalise_name("Hanoi") != normalise_name("Ha Nam")
    assert normalise_name("Hồ Chí Minh City") == "hochiminhcity"


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("C:\\Users\\an\\letter.pdf", "letter.pdf"),
        ('le"tter<script>.pdf', "letterscript.pdf"),
        ("line\nbreak.pdf", "linebreak.pdf"),
        ("...", "file"),
        ("Thư ủy quyền.pdf", "Thư ủy quyền.pdf"),
    ],
)
def test_sanitise_file_name_strips_paths_and_markup(given, shown):
    assert sanitise_file_name(given) == shown


def test_sanitise_file_name_keeps_extension_when_shortening():
    assert sanitise_file_name("a" * 300 + ".pdf") == "a" * 96 + ".pdf"


def test_sanitise_file_name_caps_a_long_extension():
    name = sanitise_file_name("x." + "a" * 150)
    assert len(name) <= 100 and name.startswith("x")
