from allauth.account.models import EmailAddress
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from django.db import transaction

from proposals import services
from proposals.models import City, CityKind, CityMembership, MemberRole, User
from proposals.roles import PROGRAMME_STAFF, REVIEWERS, ensure_role_groups

DEMO_PASSWORD = "smartjamp-demo"  # noqa: S105 (demo accounts only, documented in README)

# email, full name, position, time zone, staff?, group
ACCOUNTS = [
    (
        "staff@example.org",
        "Aiko Tanaka",
        "Programme officer, MLIT",
        "Asia/Tokyo",
        True,
        PROGRAMME_STAFF,
    ),
    ("reviewer1@example.org", "Hiroshi Sato", "MLIT reviewer", "Asia/Tokyo", True, REVIEWERS),
    ("reviewer2@example.org", "Yuki Nakamura", "MLIT reviewer", "Asia/Tokyo", True, REVIEWERS),
    (
        "lead.danang@example.org",
        "Nguyễn Văn An",
        "Director, Da Nang DOST",
        "Asia/Ho_Chi_Minh",
        False,
        None,
    ),
    (
        "editor.danang@example.org",
        "Trần Thị Bình",
        "Smart city officer",
        "Asia/Ho_Chi_Minh",
        False,
        None,
    ),
    ("lead.cebu@example.org", "Maria Santos", "City planning officer", "Asia/Manila", False, None),
]

# city name, country, lead, editors
CITIES = [
    ("Da Nang", "VN", "lead.danang@example.org", ["editor.danang@example.org"]),
    ("Cebu City", "PH", "lead.cebu@example.org", []),
]


def demo_letter(city_name: str) -> ContentFile:
    """A small, valid one-page PDF standing in for a signed authorisation letter."""
    text = f"Authorisation letter - {city_name} (demo)".encode("ascii", "replace")
    stream = b"BT /F1 14 Tf 72 720 Td (" + text + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    body = b"%PDF-1.4\n"
    offsets = []
    for number, content in enumerate(objects, start=1):
        offsets.append(len(body))
        body += f"{number} 0 obj\n".encode() + content + b"\nendobj\n"
    xref = len(body)
    body += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    body += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    body += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return ContentFile(body, name="authorisation-letter.pdf")


class Command(BaseCommand):
    help = "Create the demo accounts and cities (running it again creates nothing new)."

    @transaction.atomic
    def handle(self, *args, **options):
        ensure_role_groups()
        created = 0
        users = {}
        for email, full_name, position, time_zone, is_staff, group in ACCOUNTS:
            user, was_created = User.objects.get_or_create(
                email=email,
                defaults={
                    "full_name": full_name,
                    "position": position,
                    "time_zone": time_zone,
                    "is_staff": is_staff,
                },
            )
            if was_created:
                user.set_password(DEMO_PASSWORD)
                user.save(update_fields=["password"])
                created += 1
            if group:
                user.groups.add(Group.objects.get(name=group))
            EmailAddress.objects.update_or_create(
                user=user, email=email, defaults={"verified": True, "primary": True}
            )
            users[email] = user

        staff = users["staff@example.org"]
        for name, country_code, lead_email, editor_emails in CITIES:
            city = City.objects.select_related("country").get(country_id=country_code, name=name)
            if not city.memberships.exists():
                services.register_city(
                    user=users[lead_email],
                    country=city.country,
                    name=name,
                    kind=CityKind.CITY,
                    letter=demo_letter(name),
                    letter_name="authorisation-letter.pdf",
                )
                services.verify_city(actor=staff, city=city)
                created += 1
            for email in editor_emails:
                _membership, was_created = CityMembership.objects.get_or_create(
                    city=city, user=users[email], defaults={"role": MemberRole.EDITOR}
                )
                created += was_created
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready ({created} new objects). Password: {DEMO_PASSWORD}"
            )
        )
