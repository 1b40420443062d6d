"""Loading of the reference data shipped in proposals/data/ (copied from the programme's sources).

Used by a data migration; safe to run again (rows are matched by their natural keys and updated).
"""

import csv
import datetime
from pathlib import Path

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


# The ASEAN Smart Cities Framework's six focus areas.
FOCUS_AREAS = [
    ("civic-social", "Civic and social"),
    ("health-wellbeing", "Health and well-being"),
    ("safety-security", "Safety and security"),
    ("quality-environment", "Quality environment"),
    ("built-infrastructure", "Built infrastructure"),
    ("industry-innovation", "Industry and innovation"),
]

SECTORS = [
    ("transport", "Transport and mobility"),
    ("energy", "Energy"),
    ("water", "Water and sanitation"),
    ("waste", "Waste management"),
    ("urban-planning", "Urban planning and land use"),
    ("disaster-risk", "Disaster risk reduction"),
    ("digital-government", "Digital government and data"),
    ("health", "Health care"),
    ("buildings", "Buildings and housing"),
    ("tourism", "Tourism and culture"),
    ("agriculture", "Agriculture and food"),
    ("education", "Education"),
]


def load_taxonomies(FocusArea, Sector) -> None:
    for model, rows in ((FocusArea, FOCUS_AREAS), (Sector, SECTORS)):
        for position, (code, name) in enumerate(rows):
            model.objects.update_or_create(code=code, defaults={"name": name, "position": position})
