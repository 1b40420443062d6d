import factory
from allauth.account.models import EmailAddress
from django.core.files.base import ContentFile
from django.utils import timezone

from proposals.models import City, User, VerificationStatus

PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ["email"]
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"official{n}@example.org")
    full_name = factory.Faker("name")
    time_zone = "Asia/Tokyo"
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def verified_email(self, create, extracted, **kwargs):
        self.save()
        if create and extracted is not False:
            EmailAddress.objects.get_or_create(
                user=self, email=self.email, defaults={"verified": True, "primary": True}
            )


def pdf_bytes(text: str = "letter", *, size: int = 0) -> bytes:
    body = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% " + text.encode() + b"\n"
    if size > len(body):
        body += b"0" * (size - len(body) - 6) + b"\n%%EOF"
    return body + b"%%EOF\n" if not size else body


def make_city(name: str, country: str, *, verified: bool = False) -> City:
    """A registered (claimed) city: the ASCN reference row where there is one."""
    city = City.objects.filter(country_id=country, name=name).first() or City(
        country_id=country, name=name
    )
    city.registered_at = timezone.now()
    city.letter_name = "letter.pdf"
    city.authorisation_letter.save("x.pdf", ContentFile(pdf_bytes(name)), save=False)
    if verified:
        city.verification_status = VerificationStatus.VERIFIED
    city.save()
    return city
