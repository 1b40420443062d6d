"""Loading of the reference data shipped in proposals/data/ (copied from the programme's sources).

Used by a data migration; safe to run again (rows are matched by their natural keys and updated).
"""

import csv
import datetime
from pathlib import Path

from django.utils.translation import gettext_noop

from .text import normalise_name

DATA_DIR = Path(__file__).resolve().parent / "data"


def read_rows(name: str) -> list[dict[str, str]]:
    with open(DATA_DIR / name, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def load_reference_data(Country, City) -> None:
    for row in read_rows("countries.csv"):
        Country.objects.update_or_create(
            iso2=row["iso2"],
            defaults={
                "iso3": row["iso3"],
                "numeric": row["numeric"],
                "name": row["name"],
                "capital": row["capital"],
                "time_zone": row["time_zone"],
                "currency": row["currency"],
                "asean_member": row["asean_member"] == "yes",
                "asean_member_since": (
                    datetime.date.fromisoformat(row["asean_member_since"])
                    if row["asean_member_since"]
                    else None
                ),
            },
        )
    for row in read_rows("ascn_cities.csv"):
        key = normalise_name(row["name"])
        city = City.objects.filter(country_id=row["country_iso2"], name_key=key).first()
        if city is None:
            city = City(country_id=row["country_iso2"], name=row["name"], name_key=key)
            city.time_zone = row["time_zone"]
        city.ascn_status = row["ascn_status"]
        city.ascn_joined = int(row["ascn_joined"]) if row["ascn_joined"] else None
        city.save()


# The names of data/countries.csv, for the catalogue: a country is shown in the reader's
# language (Country.__str__); tests/test_catalogues.py checks the list against the file.
COUNTRY_NAMES = [
    gettext_noop("Brunei Darussalam"),
    gettext_noop("Cambodia"),
    gettext_noop("Indonesia"),
    gettext_noop("Lao PDR"),
    gettext_noop("Malaysia"),
    gettext_noop("Myanmar"),
    gettext_noop("Philippines"),
    gettext_noop("Singapore"),
    gettext_noop("Thailand"),
    gettext_noop("Viet Nam"),
    gettext_noop("Timor-Leste"),
    gettext_noop("Japan"),
]

# The ASEAN Smart Cities Framework's six focus areas.
FOCUS_AREAS = [
    ("civic-social", gettext_noop("Civic and social")),
    ("health-wellbeing", gettext_noop("Health and well-being")),
    ("safety-security", gettext_noop("Safety and security")),
    ("quality-environment", gettext_noop("Quality environment")),
    ("built-infrastructure", gettext_noop("Built infrastructure")),
    ("industry-innovation", gettext_noop("Industry and innovation")),
]

SECTORS = [
    ("transport", gettext_noop("Transport and mobility")),
    ("energy", gettext_noop("Energy")),
    ("water", gettext_noop("Water and sanitation")),
    ("waste", gettext_noop("Waste management")),
    ("urban-planning", gettext_noop("Urban planning and land use")),
    ("disaster-risk", gettext_noop("Disaster risk reduction")),
    ("digital-government", gettext_noop("Digital government and data")),
    ("health", gettext_noop("Health care")),
    ("buildings", gettext_noop("Buildings and housing")),
    ("tourism", gettext_noop("Tourism and culture")),
    ("agriculture", gettext_noop("Agriculture and food")),
    ("education", gettext_noop("Education")),
]


def load_taxonomies(FocusArea, Sector) -> None:
    for model, rows in ((FocusArea, FOCUS_AREAS), (Sector, SECTORS)):
        for position, (code, name) in enumerate(rows):
            model.objects.update_or_create(code=code, defaults={"name": name, "position": position})
