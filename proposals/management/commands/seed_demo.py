import datetime
import time

from allauth.account.models import EmailAddress
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from proposals import services
from proposals.fiscal import jst_today
from proposals.models import (
    ELIGIBILITY_CHECKS,
    AttachmentKind,
    Call,
    City,
    CityKind,
    CityMembership,
    Country,
    DeliverableKind,
    DeliverableState,
    DeskRequest,
    DeskTopic,
    FinancingKind,
    FocusArea,
    Instrument,
    KickOff,
    MemberRole,
    PartnerKind,
    Project,
    Proposal,
    RubricCriterion,
    Sector,
    Stage,
    Status,
    User,
)
from proposals.roles import PROGRAMME_STAFF, REVIEWERS, ensure_role_groups

DEMO_PASSWORD = "smartjamp-demo"  # noqa: S105 (demo accounts only, documented in README)
# The demo's admin accounts need a second factor like every admin account: an authenticator
# app set up with this published secret, or `python manage.py demo_totp` for the current code.
DEMO_TOTP_SECRET = "SMARTJAMPDEMOTOTPSECRETXYZ234567"  # noqa: S105 (demo accounts only)


def demo_totp_code() -> str:
    """The current code of the demo accounts' authenticator."""
    from allauth.mfa import app_settings
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

    counter = int(time.time()) // app_settings.TOTP_PERIOD
    return format_hotp_value(hotp_value(DEMO_TOTP_SECRET, counter))


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
        "consultant@example.org",
        "Kenji Watanabe",
        "Project manager, Nippon Survey Consultants",
        "Asia/Tokyo",
        False,
        None,
    ),
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

RUBRIC = [
    (
        "Relevance to the city's needs",
        3,
        "Does the project address a real, well-evidenced problem?",
    ),
    ("Feasibility", 2, "Can it be delivered with the time, partners and money described?"),
    ("Japanese technology and partners", 2, "Does it make good use of Japanese know-how?"),
    ("Financing path", 2, "Is there a credible route to investment after the study?"),
    ("Impact and scalability", 1, "Could other ASEAN cities replicate it?"),
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
            if is_staff:
                created += self.give_demo_second_factor(user)
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
        created += self.seed_calls_and_proposals(users)
        created += self.seed_projects(users)
        created += self.seed_desk(users)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready ({created} new objects). Password: {DEMO_PASSWORD}. "
                f"Admin accounts' second factor: TOTP secret {DEMO_TOTP_SECRET} "
                "(`python manage.py demo_totp` prints the current code)."
            )
        )

    @staticmethod
    def give_demo_second_factor(user) -> int:
        from allauth.mfa.models import Authenticator
        from allauth.mfa.utils import encrypt

        _authenticator, was_created = Authenticator.objects.get_or_create(
            user=user,
            type=Authenticator.Type.TOTP,
            defaults={"data": {"secret": encrypt(DEMO_TOTP_SECRET)}},
        )
        return int(was_created)

    def seed_calls_and_proposals(self, users) -> int:
        now = timezone.now()
        asean = Country.objects.filter(asean_member=True)
        created = 0
        open_call, was_created = Call.objects.get_or_create(
            title="Smart JAMP 2027: project formation surveys",
            defaults={
                "stage": Stage.FORMATION_SURVEY,
                "description": (
                    "MLIT funds feasibility studies (project formation surveys) of smart-city "
                    "projects in ASEAN cities, carried out with a Japanese consultant and "
                    "reporting by 31 March of the Japanese fiscal year.\n\nProposals should "
                    "name the problem, the solution, the Japanese partners and how the project "
                    "could be financed after the study."
                ),
                "opens_at": now - datetime.timedelta(days=10),
                "closes_at": now + datetime.timedelta(days=30),
                "max_request_jpy": 50_000_000,
                "envelope_jpy": 1_000_000_000,
                "review_due": (now + datetime.timedelta(days=60)).date(),
            },
        )
        if was_created:
            created += 1
            open_call.eligible_countries.set(asean)
            for position, (name, weight, description) in enumerate(RUBRIC):
                RubricCriterion.objects.create(
                    call=open_call,
                    name=name,
                    weight=weight,
                    description=description,
                    position=position,
                )
        closed_call, was_created = Call.objects.get_or_create(
            title="Smart JAMP 2026: investment promotion",
            defaults={
                "stage": Stage.INVESTMENT,
                "description": "Support towards JOIN equity and JBIC loans for surveyed projects.",
                "opens_at": now - datetime.timedelta(days=200),
                "closes_at": now - datetime.timedelta(days=120),
                "max_request_jpy": 100_000_000,
                "envelope_jpy": 2_000_000_000,
            },
        )
        if was_created:
            created += 1
            closed_call.eligible_countries.set(asean)

        danang = City.objects.get(country_id="VN", name="Da Nang")
        if not Proposal.objects.filter(call=open_call, city=danang).exists():
            lead = users["lead.danang@example.org"]
            draft = services.start_proposal(
                user=lead,
                call=open_call,
                city=danang,
                title="Flood early-warning for the Han River basin",
            )
            self.fill(
                draft, lead, DANANG_DRAFT, ["disaster-risk"], "Tokyo Flood Research Institute"
            )
            created += 1
        cebu = City.objects.get(country_id="PH", name="Cebu City")
        if not Proposal.objects.filter(call=open_call, city=cebu).exists():
            lead = users["lead.cebu@example.org"]
            proposal = services.start_proposal(
                user=lead, call=open_call, city=cebu, title="Bus rapid transit fare integration"
            )
            proposal = self.fill(
                proposal, lead, CEBU_PROPOSAL, ["transport"], "Nippon Koei Co., Ltd."
            )
            services.add_attachment(
                user=lead,
                proposal=proposal,
                kind=AttachmentKind.CONCEPT_NOTE,
                upload=demo_letter("Cebu BRT concept note"),
            )
            services.submit_proposal(user=lead, proposal=proposal)
            created += 1
        created += self.seed_review_round(users, asean)
        return created

    def seed_review_round(self, users, asean) -> int:
        """A call whose proposals went through the whole workflow, so every state is shown."""
        if Call.objects.filter(title=REVIEW_ROUND).exists():
            return 0
        now = timezone.now()
        staff = users["staff@example.org"]
        reviewers = [users["reviewer1@example.org"], users["reviewer2@example.org"]]
        for reviewer in reviewers:
            User.objects.filter(pk=reviewer.pk).update(country_id="JP")
        call = Call.objects.create(
            title=REVIEW_ROUND,
            stage=Stage.FORMATION_SURVEY,
            description="The autumn round of project formation surveys, now under review.",
            opens_at=now - datetime.timedelta(days=60),
            closes_at=now + datetime.timedelta(hours=1),
            max_request_jpy=50_000_000,
            envelope_jpy=800_000_000,
            max_proposals_per_city=4,
            review_due=(now + datetime.timedelta(days=14)).date(),
        )
        call.eligible_countries.set(asean)
        for position, (name, weight, description) in enumerate(RUBRIC):
            RubricCriterion.objects.create(
                call=call, name=name, weight=weight, description=description, position=position
            )
        submitted = {}
        for city_name, country, lead_email, titles in ROUND_PROPOSALS:
            city = City.objects.get(country_id=country, name=city_name)
            lead = users[lead_email]
            for title in titles:
                proposal = self.fill(
                    services.start_proposal(user=lead, call=call, city=city, title=title),
                    lead,
                    CEBU_PROPOSAL,
                    ["urban-planning"],
                    "Japan Smart City Partners",
                )
                services.add_attachment(
                    user=lead,
                    proposal=proposal,
                    kind=AttachmentKind.CONCEPT_NOTE,
                    upload=demo_letter(title),
                )
                submitted[title] = services.submit_proposal(user=lead, proposal=proposal)
        # The round closed; staff screen and send proposals to review.
        call.closes_at = now - datetime.timedelta(days=5)
        call.save(update_fields=["closes_at"])
        due = (now + datetime.timedelta(days=14)).date()
        all_checks = {key: True for key, _label in ELIGIBILITY_CHECKS}
        for title, proposal in submitted.items():
            if title == "Smart parking pilot":
                services.withdraw_proposal(
                    user=users["lead.cebu@example.org"],
                    proposal=proposal,
                    reason="Merged into the BRT fare integration proposal.",
                )
                continue
            services.screen_proposal(actor=staff, proposal=proposal)
            if title == "Coastal erosion monitoring":
                continue  # stays in screening
            if title == "Night market lighting":
                services.request_revision(
                    actor=staff,
                    proposal=proposal,
                    message="Please add a budget sheet and a letter from the district.",
                    due=now + datetime.timedelta(days=10),
                )
                continue
            services.record_eligibility(actor=staff, proposal=proposal, checks=all_checks)
            services.send_to_review(actor=staff, proposal=proposal)
            services.assign_reviewers(
                actor=staff, proposals=[proposal], reviewers=reviewers, due=due
            )
        scores = {
            "Digital twin of the city centre": ([5, 4, 4, 5, 4], [4, 4, 5, 4, 3]),
            "Flood sensors in the Han River": ([4, 3, 3, 4, 3], None),
            "Waste collection routing": ([2, 2, 3, 1, 2], [4, 3, 4, 4, 3]),
            "Flood-resilient drainage": ([4, 4, 3, 4, 4], [5, 4, 4, 4, 4]),
        }
        for title, (first, second) in scores.items():
            proposal = submitted[title]
            for reviewer, values in zip(reviewers, (first, second), strict=True):
                assignment = proposal.assignments.get(reviewer=reviewer)
                services.declare_conflict(reviewer=reviewer, assignment=assignment, conflict=False)
                if values is None:
                    continue
                services.save_review(
                    reviewer=reviewer,
                    assignment=assignment,
                    scores=dict(
                        zip(call.criteria.values_list("pk", flat=True), values, strict=True)
                    ),
                    comment="Clear problem statement; the financing path needs detail.",
                    recommendation="fund" if sum(values) >= 18 else "fund_with_changes",
                    submit=True,
                )
        services.shortlist_proposal(actor=staff, proposal=submitted["Flood-resilient drainage"])
        best = submitted["Digital twin of the city centre"]
        services.shortlist_proposal(actor=staff, proposal=best)
        approved = services.approve_proposal(
            actor=staff,
            proposal=best,
            amount=40_000_000,
            letter=(
                "We are pleased to inform you that your proposal has been selected for a "
                "project formation survey. MLIT will contact you about the kick-off."
            ),
        )
        # Its project's survey: the consultant on it, the inception report accepted.
        project = approved.project
        project.consultant_company = "Nippon Survey Consultants Co., Ltd."
        project.save(update_fields=["consultant_company"])
        consultant = users["consultant@example.org"]
        services.invite_consultant(actor=staff, project=project, email=consultant.email)
        inception = project.deliverables.get(kind="inception")
        services.upload_deliverable(
            user=consultant, deliverable=inception, upload=demo_letter("Inception report")
        )
        services.review_deliverable(actor=staff, deliverable=inception, accept=True)
        services.reject_proposal(
            actor=staff,
            proposal=submitted["Waste collection routing"],
            letter="Thank you for your proposal. It was not selected in this round.",
        )
        return 1

    def seed_projects(self, users) -> int:
        """After selection: Da Nang's project in its survey (kick-off held, inception report
        accepted, interim report due), one of Cebu City's in the promotion of investment (a
        JOIN track under appraisal, a JICA track referred)."""
        staff = users["staff@example.org"]
        consultant = users["consultant@example.org"]
        created = 0
        danang = Proposal.objects.filter(
            title="Digital twin of the city centre", status=Status.APPROVED
        ).first()
        if danang is not None and not KickOff.objects.filter(project=danang.project).exists():
            project = danang.project
            KickOff.objects.create(
                project=project,
                held_on=jst_today() - datetime.timedelta(days=20),
                place="Da Nang City People's Committee",
                mlit_signatory="Counsellor, Embassy of Japan in Viet Nam (for MLIT)",
                city_signatory="Chairman of the Da Nang City People's Committee",
                committee="Da Nang DOST (chair)\nDa Nang DOC\nMLIT\nNippon Survey Consultants",
            )
            project.deliverables.filter(
                kind=DeliverableKind.INTERIM, state=DeliverableState.PLANNED
            ).update(due_on=jst_today() + datetime.timedelta(days=12))
            self.publish(
                staff,
                project,
                "A digital twin of Da Nang's centre, to plan flood defences, traffic and new "
                "buildings with one model of the city, built with a Japanese consultant.",
            )
            created += 1
        cebu = Proposal.objects.filter(
            title="Flood-resilient drainage", status=Status.SHORTLISTED
        ).first()
        if cebu is not None:
            cebu = services.approve_proposal(
                actor=staff,
                proposal=cebu,
                amount=45_000_000,
                letter="Your proposal has been selected for a project formation survey.",
            )
            project = cebu.project
            project.consultant_company = "Nippon Survey Consultants Co., Ltd."
            project.contract_amount_jpy = 42_000_000
            project.save(update_fields=["consultant_company", "contract_amount_jpy"])
            services.invite_consultant(actor=staff, project=project, email=consultant.email)
            for deliverable in project.deliverables.all():
                services.upload_deliverable(
                    user=consultant,
                    deliverable=deliverable,
                    upload=demo_letter(deliverable.get_kind_display()),
                )
                services.review_deliverable(actor=staff, deliverable=deliverable, accept=True)
            services.take_project_transition(
                actor=staff,
                project=project,
                name="promote_investment",
                message="Final report accepted; JOIN and JICA approached.",
            )
            project.refresh_from_db()
            join = services.add_financing_track(
                actor=staff,
                project=project,
                kind=FinancingKind.JOIN_EQUITY,
                counterpart="JOIN, Infrastructure Investment Department",
                sought_jpy=1_500_000_000,
            )
            for name in ("refer", "appraise"):
                services.change_financing_status(actor=staff, track=join, name=name)
            jica = services.add_financing_track(
                actor=staff,
                project=project,
                kind=FinancingKind.JICA_LOAN,
                counterpart="JICA Philippines Office",
                sought_jpy=4_000_000_000,
            )
            services.change_financing_status(actor=staff, track=jica, name="refer")
            self.publish(
                staff,
                project,
                "Drainage that keeps Cebu City's low-lying districts dry in the typhoon season, "
                "now seeking JOIN equity and a JICA loan.",
            )
            created += 1
        return created

    @staticmethod
    def publish(staff, project, summary: str) -> None:
        """On the public page of selected projects, with its summary."""
        project.refresh_from_db()
        project.public_summary = summary
        project.save(update_fields=["public_summary", "updated_at"])
        services.set_published(actor=staff, project=project, published=True)

    def seed_desk(self, users) -> int:
        """Three requests at the consultation desk: Da Nang's on financing, answered; Cebu
        City's on regulation, open and overdue (opened ten working days ago); the consultant's
        on partner matching, open and still within the target."""
        if DeskRequest.objects.exists():
            return 0
        staff = users["staff@example.org"]
        danang = City.objects.get(country_id="VN", name="Da Nang")
        cebu = City.objects.get(country_id="PH", name="Cebu City")
        answered = services.open_request(
            user=users["lead.danang@example.org"],
            topic=DeskTopic.FINANCING,
            subject="Which JBIC window fits a digital-twin platform?",
            body="Our survey ends in March. Could JBIC finance the platform's operator?",
            city=danang,
            project=Project.objects.filter(proposal__city=danang).first(),
        )
        services.answer_request(
            actor=staff,
            desk_request=answered,
            body="JBIC's overseas investment loans fit an operator with Japanese equity; "
            "we can introduce you to their infrastructure team.",
        )
        overdue = services.open_request(
            user=users["lead.cebu@example.org"],
            topic=DeskTopic.REGULATION,
            subject="Public–private partnership rules for the drainage works",
            body="Does the PPP Code of 2023 allow an unsolicited proposal for drainage?",
            city=cebu,
        )
        DeskRequest.objects.filter(pk=overdue.pk).update(
            created_at=timezone.now() - datetime.timedelta(days=14)
        )
        services.open_request(
            user=users["consultant@example.org"],
            topic=DeskTopic.PARTNER_MATCHING,
            subject="A local partner for the sensor network in Da Nang",
            body="We look for a Vietnamese installer with experience of river sensors.",
        )
        return 3

    def fill(self, proposal, user, values, sectors, partner):
        return services.save_draft(
            user=user,
            proposal=proposal,
            base_version=proposal.version,
            values={**values, "contact_name": user.full_name, "contact_email": user.email},
            focus_areas=FocusArea.objects.filter(
                code__in=["built-infrastructure", "quality-environment"]
            ),
            sectors=Sector.objects.filter(code__in=sectors),
            partners=[{"name": partner, "kind": PartnerKind.COMPANY, "role": "Survey lead"}],
        )


REVIEW_ROUND = "Smart JAMP 2026: autumn round (under review)"
ROUND_PROPOSALS = [
    (
        "Da Nang",
        "VN",
        "lead.danang@example.org",
        [
            "Digital twin of the city centre",
            "Flood sensors in the Han River",
            "Night market lighting",
        ],
    ),
    (
        "Cebu City",
        "PH",
        "lead.cebu@example.org",
        [
            "Waste collection routing",
            "Coastal erosion monitoring",
            "Smart parking pilot",
            "Flood-resilient drainage",
        ],
    ),
]

DANANG_DRAFT = {
    "summary": "A city-wide system that warns residents hours before floods.",
    "problem": "Floods in the rainy season cut roads and damage homes every year.",
    "solution": "River sensors, a forecasting model and alerts by SMS and loudspeaker.",
    "total_cost_jpy": 80_000_000,
    "requested_jpy": 40_000_000,
    "instruments": [Instrument.MLIT_STUDY, Instrument.ODA],
}

CEBU_PROPOSAL = {
    "summary": "One fare card for buses, jeepneys and the new BRT line.",
    "problem": "Commuters pay several fares and queue for each mode.",
    "solution": "An account-based fare system with open payments.",
    "outcomes": "Shorter journeys; more riders on public transport.",
    "indicators": "Average transfer time (today 12 min, target 4 min).",
    "start_date": datetime.date(2027, 7, 1),
    "duration_months": 9,
    "timeline": "Months 1-3 survey; 4-6 design; 7-9 financing plan.",
    "total_cost_jpy": 60_000_000,
    "requested_jpy": 45_000_000,
    "instruments": [Instrument.MLIT_STUDY, Instrument.JBIC_LOAN],
    "declaration": True,
}
