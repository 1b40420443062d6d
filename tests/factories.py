import datetime
import io
import zipfile

import factory
from allauth.account.models import EmailAddress
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from proposals import services
from proposals.models import (
    AttachmentKind,
    Call,
    City,
    Country,
    FocusArea,
    Instrument,
    Proposal,
    RubricCriterion,
    Sector,
    Stage,
    User,
    VerificationStatus,
)

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


# Calls and proposals ---------------------------------------------------------------------

COMPLETE = {
    "summary": "A short summary.",
    "contact_name": "Nguyễn Văn An",
    "contact_email": "an@danang.gov.vn",
    "contact_phone": "+84 236 000 000",
    "problem": "Floods.",
    "solution": "Sensors and alerts.",
    "outcomes": "Fewer losses.",
    "indicators": "Households warned in time: 20% today, 90% in 2028.",
    "start_date": datetime.date(2027, 7, 1),
    "duration_months": 9,
    "timeline": "Survey, design, financing plan.",
    "total_cost_jpy": 80_000_000,
    "requested_jpy": 40_000_000,
    "co_financing_jpy": 40_000_000,
    "co_financing_sources": "City budget.",
    "instruments": [Instrument.MLIT_STUDY],
    "declaration": True,
}


def make_call(title="Smart JAMP 2027", *, opens_in_days=-10, closes_in_days=30, **extra) -> Call:
    now = timezone.now()
    countries = extra.pop("countries", None)
    call = Call.objects.create(
        title=title,
        stage=extra.pop("stage", Stage.FORMATION_SURVEY),
        description="Feasibility studies of smart-city projects.",
        opens_at=extra.pop("opens_at", now + datetime.timedelta(days=opens_in_days)),
        closes_at=extra.pop("closes_at", now + datetime.timedelta(days=closes_in_days)),
        max_request_jpy=extra.pop("max_request_jpy", 50_000_000),
        envelope_jpy=extra.pop("envelope_jpy", 1_000_000_000),
        **extra,
    )
    call.eligible_countries.set(countries or Country.objects.filter(asean_member=True))
    RubricCriterion.objects.create(call=call, name="Relevance", weight=3, position=0)
    RubricCriterion.objects.create(call=call, name="Feasibility", weight=2, position=1)
    return call


def docx_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


def image_bytes(kind: str = "PNG", size: tuple[int, int] = (8, 6)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "teal").save(buffer, kind)
    return buffer.getvalue()


def upload(name="concept-note.pdf", content=None, content_type="application/pdf"):
    return SimpleUploadedFile(name, pdf_bytes(name) if content is None else content, content_type)


def make_proposal(call: Call, city, by, *, title="Flood early warning", complete=True) -> Proposal:
    """A draft started by `by`; with `complete`, everything submission needs is filled in."""
    proposal = services.start_proposal(user=by, call=call, city=city, title=title)
    if not complete:
        return proposal
    proposal = services.save_draft(
        user=by,
        proposal=proposal,
        base_version=proposal.version,
        values=COMPLETE,
        focus_areas=FocusArea.objects.filter(code="quality-environment"),
        sectors=Sector.objects.filter(code="disaster-risk"),
        partners=[{"name": "Tokyo Engineering", "kind": "company", "role": "Survey"}],
    )
    services.add_attachment(
        user=by, proposal=proposal, kind=AttachmentKind.CONCEPT_NOTE, upload=upload()
    )
    proposal.refresh_from_db()
    return proposal


def under_review(proposal, *, lead, staff):
    """Take a complete draft through submission and screening into review."""
    from proposals.models import ELIGIBILITY_CHECKS

    services.submit_proposal(user=lead, proposal=proposal)
    services.screen_proposal(actor=staff, proposal=proposal)
    services.record_eligibility(
        actor=staff, proposal=proposal, checks={key: True for key, _label in ELIGIBILITY_CHECKS}
    )
    proposal = services.send_to_review(actor=staff, proposal=proposal)
    return proposal


def review(proposal, reviewer, values, *, staff, submit=True, recommendation="fund"):
    """Assign `reviewer`, who declares no conflict and scores the criteria with `values`."""
    assignment = proposal.assignments.filter(reviewer=reviewer).first()
    if assignment is None:
        (assignment,), _skipped = services.assign_reviewers(
            actor=staff,
            proposals=[proposal],
            reviewers=[reviewer],
            due=timezone.now().date() + datetime.timedelta(days=14),
        )
    services.declare_conflict(reviewer=reviewer, assignment=assignment, conflict=False)
    criteria = list(proposal.call.criteria.values_list("pk", flat=True))
    services.save_review(
        reviewer=reviewer,
        assignment=assignment,
        scores=dict(zip(criteria, values, strict=True)),
        comment="Solid.",
        recommendation=recommendation,
        submit=submit,
    )
    assignment.refresh_from_db()
    return assignment
