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


# role (as `make run` lists it), email, full name, position, time zone, staff?, group
ACCOUNTS = [
    (
        "programme staff",
        "staff@example.org",
        "Aiko Tanaka",
        "Programme officer, MLIT",
        "Asia/Tokyo",
        True,
        PROGRAMME_STAFF,
    ),
    (
        "reviewer",
        "reviewer1@example.org",
        "Hiroshi Sato",
        "MLIT reviewer",
        "Asia/Tokyo",
        True,
        REVIEWERS,
    ),
    (
        "reviewer",
        "reviewer2@example.org",
        "Yuki Nakamura",
        "MLIT reviewer",
        "Asia/Tokyo",
        True,
        REVIEWERS,
    ),
    (
        "Japanese consultant",
        "consultant@example.org",
        "Kenji Watanabe",
        "Project manager, Nippon Survey Consultants",
        "Asia/Tokyo",
        False,
        None,
    ),
    (
        "city lead, Da Nang",
        "lead.danang@example.org",
        "Nguyễn Văn An",
        "Director, Da Nang DOST",
        "Asia/Ho_Chi_Minh",
        False,
        None,
    ),
    (
        "editor, Da Nang",
        "editor.danang@example.org",
        "Trần Thị Bình",
        "Smart city officer",
        "Asia/Ho_Chi_Minh",
        False,
        None,
    ),
    (
        "city lead, Cebu City",
        "lead.cebu@example.org",
        "Maria Santos",
        "City planning officer",
        "Asia/Manila",
        False,
        None,
    ),
]


def demo_accounts() -> list[tuple[str, str, str, str]]:
    """(role, email, password, second factor) of each demo account, for `make run` to list."""
    return [
        (role, email, DEMO_PASSWORD, "authenticator app (TOTP)" if is_staff else "")
        for role, email, _name, _position, _zone, is_staff, _group in ACCOUNTS
    ]


RUBRIC = [
    (
        "Relevance to the city's needs",
        3,
        "Does the project address a real, well-evidenced problem?",
        [
            "The problem is not described, or not the city's.",
            "A problem is named, without evidence.",
            "The problem is described, with some evidence of its size.",
            "The problem is measured, and the city's plans give it priority.",
            "The problem is measured, its causes shown, and the city's plans depend on it.",
        ],
    ),
    (
        "Feasibility",
        2,
        "Can it be delivered with the time, partners and money described?",
        [
            "No plan, or one that cannot be delivered.",
            "A plan with large gaps in time, partners or money.",
            "A workable plan; some risks not addressed.",
            "A sound plan, its main risks addressed.",
            "A sound plan with committed partners, money and a realistic timetable.",
        ],
    ),
    (
        "Japanese technology and partners",
        2,
        "Does it make good use of Japanese know-how?",
        [
            "No Japanese partner or technology.",
            "A Japanese partner named, its role unclear.",
            "A Japanese partner with a clear role.",
            "Japanese technology central to the solution, the partner committed.",
            "Proven Japanese technology, adapted to the city, with a committed partner.",
        ],
    ),
    (
        "Financing path",
        2,
        "Is there a credible route to investment after the study?",
        [
            "No route to investment.",
            "A source of money named, without a route to it.",
            "A plausible route (JOIN, JBIC, ODA or private), not yet discussed.",
            "A route discussed with the financier.",
            "A route agreed in principle with the financier, the city's share identified.",
        ],
    ),
    (
        "Impact and scalability",
        1,
        "Could other ASEAN cities replicate it?",
        [
            "Benefits unclear, for this city only.",
            "Some benefits, hard to replicate.",
            "Clear benefits; replicable with effort.",
            "Clear, measured benefits; other cities named that could follow.",
            "Large, measured benefits and a plan to share it through the ASCN.",
        ],
    ),
]


def rubric_criterion(call: Call, position: int) -> RubricCriterion:
    """The demo rubric's criterion at `position` for `call`, with what each score means."""
    name, weight, description, meanings = RUBRIC[position]
    return RubricCriterion.objects.create(
        call=call,
        name=name,
        weight=weight,
        description=description,
        position=position,
        **dict(zip(RubricCriterion.DESCRIPTORS, meanings, strict=True)),
    )


# city name, country, lead, editors
CITIES = [
    ("Da Nang", "VN", "lead.danang@example.org", ["editor.danang@example.org"]),
    ("Cebu City", "PH", "lead.cebu@example.org", []),
]


def demo_pdf(title: str, name: str) -> ContentFile:
    """A small, valid one-page PDF saying what it stands for, under the name of what it is
    ("concept-note.pdf"): the demo's files read as the documents they play."""
    text = f"{title} (demo)".encode("ascii", "replace")
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
    return ContentFile(body, name=name)


def demo_letter(city_name: str) -> ContentFile:
    """The city's signed authorisation letter."""
    return demo_pdf(f"Authorisation letter - {city_name}", "authorisation-letter.pdf")


class Command(BaseCommand):
    help = "Create the demo accounts and cities (running it again creates nothing new)."

    @transaction.atomic
    def handle(self, *args, **options):
        ensure_role_groups()
        created = 0
        users = {}
        for _role, email, full_name, position, time_zone, is_staff, group in ACCOUNTS:
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
        if options["verbosity"] < 1:
            return
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
            for position in range(len(RUBRIC)):
                rubric_criterion(open_call, position)
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
            self.start(lead, open_call, danang, "Flood early-warning for the Han River basin")
            created += 1
        cebu = City.objects.get(country_id="PH", name="Cebu City")
        if not Proposal.objects.filter(call=open_call, city=cebu).exists():
            lead = users["lead.cebu@example.org"]
            proposal = self.start(lead, open_call, cebu, "Bus rapid transit fare integration")
            services.submit_proposal(user=lead, proposal=proposal)
            created += 1
        created += self.seed_review_round(users, asean)
        return created

    def seed_review_round(self, users, asean) -> int:
        """A call whose proposals went through the whole workflow, so every state is shown."""
        for former in Call.objects.filter(title=FORMER_REVIEW_ROUND):
            former.title = REVIEW_ROUND
            former.save(update_fields=["title"])  # a save: its signal retires cached pages
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
            description=(
                "The autumn round of project formation surveys: closed, its proposals in "
                "screening, review and decision."
            ),
            opens_at=now - datetime.timedelta(days=60),
            closes_at=now + datetime.timedelta(hours=1),
            max_request_jpy=50_000_000,
            envelope_jpy=800_000_000,
            max_proposals_per_city=4,
            review_due=(now + datetime.timedelta(days=14)).date(),
        )
        call.eligible_countries.set(asean)
        for position in range(len(RUBRIC)):
            rubric_criterion(call, position)
        submitted = {}
        for city_name, country, lead_email, titles in ROUND_PROPOSALS:
            city = City.objects.get(country_id=country, name=city_name)
            lead = users[lead_email]
            for title in titles:
                proposal = self.start(lead, call, city, title)
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
        # The consensus panel met after the individual reviews.
        panel = services.open_panel(
            actor=staff,
            call=call,
            held_on=(now - datetime.timedelta(days=2)).date(),
            members=[*reviewers, staff],
        )
        criteria = list(call.criteria.order_by("position").values_list("pk", flat=True))
        for title, agreed, recommendation, rationale in (
            (
                "Digital twin of the city centre",
                [5, 4, 4, 4, 4],
                "fund",
                "Both reviewers rate the problem and the partners highly; the panel agrees.",
            ),
            (
                "Flood-resilient drainage",
                [4, 4, 4, 4, 4],
                "fund",
                "The second reviewer's higher relevance score is borne out by the flood data.",
            ),
            (
                "Waste collection routing",
                [3, 2, 3, 2, 2],
                "do_not_fund",
                "The reviewers disagree; the panel finds the plan and partners too thin.",
            ),
        ):
            services.record_consensus(
                actor=staff,
                proposal=submitted[title],
                session=panel,
                scores=dict(zip(criteria, agreed, strict=True)),
                rationale=rationale,
                recommendation=recommendation,
            )
        services.shortlist_proposal(actor=staff, proposal=submitted["Flood-resilient drainage"])
        best = submitted["Digital twin of the city centre"]
        services.shortlist_proposal(actor=staff, proposal=best)
        # What each city reads of its evaluation, written before the decisions so that their
        # emails carry it: Da Nang's in English and Vietnamese, the declined one in English.
        relevance, feasibility, partners, financing, _impact = call.criteria.order_by("position")
        for language, overall, strength, weakness in (
            (
                "en",
                "A well-evidenced proposal with strong Japanese partners, ranked first.",
                "The flooding and traffic problems are measured and in the city's master plan.",
                "The route to investment after the study needs a named financier.",
            ),
            (
                "vi",
                "Đề xuất có bằng chứng rõ ràng và đối tác Nhật Bản mạnh, xếp hạng thứ nhất.",
                "Vấn đề ngập lụt và giao thông được đo lường và có trong quy hoạch chung.",
                "Lộ trình đầu tư sau khảo sát cần nêu rõ tổ chức tài trợ.",
            ),
        ):
            services.write_evaluation_summary(
                actor=staff,
                proposal=best,
                language=language,
                overall=overall,
                feedback={relevance.pk: (strength, ""), financing.pk: ("", weakness)},
            )
        services.write_evaluation_summary(
            actor=staff,
            proposal=submitted["Waste collection routing"],
            language="en",
            overall=(
                "A useful idea that the reviewers could not yet see delivered: the plan and "
                "its partners need more detail before the next call."
            ),
            feedback={
                feasibility.pk: ("", "The timetable has no milestones and no budget per step."),
                partners.pk: ("", "The Japanese partner's role is not described."),
            },
        )
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
            user=consultant,
            deliverable=inception,
            upload=demo_pdf("Inception report", "inception-report.pdf"),
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
                    upload=demo_pdf(
                        str(deliverable.get_kind_display()),
                        f"{deliverable.kind.replace('_', '-')}-report.pdf",
                    ),
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

    def start(self, user, call, city, title: str):
        """A draft of `title` with its own texts and files (PROPOSALS)."""
        demo = PROPOSALS[title]
        proposal = services.start_proposal(user=user, call=call, city=city, title=title)
        proposal = self.fill(proposal, user, demo)
        self.attach(proposal, user, demo)
        return proposal

    def fill(self, proposal, user, demo):
        """Write a proposal's own texts (`demo`, one of PROPOSALS) into it."""
        return services.save_draft(
            user=user,
            proposal=proposal,
            base_version=proposal.version,
            values={**demo["values"], "contact_name": user.full_name, "contact_email": user.email},
            focus_areas=FocusArea.objects.filter(code__in=demo["focus_areas"]),
            sectors=Sector.objects.filter(code__in=demo["sectors"]),
            partners=[demo["partner"]],
        )

    @staticmethod
    def attach(proposal, user, demo):
        """The proposal's files, each named for what it is."""
        for kind, document, name in demo["attachments"]:
            services.add_attachment(
                user=user,
                proposal=proposal,
                kind=kind,
                upload=demo_pdf(f"{document} - {proposal.title}, {proposal.city.name}", name),
            )


REVIEW_ROUND = "Smart JAMP 2026: autumn round"
# The round's title until issue 18, when it said "(under review)" whatever its state: a
# database seeded before keeps its round, renamed, rather than getting a second one.
FORMER_REVIEW_ROUND = "Smart JAMP 2026: autumn round (under review)"
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


def japanese_partner(name: str, role: str, kind: str = PartnerKind.COMPANY) -> dict:
    return {"name": name, "kind": kind, "role": role}


CONCEPT_NOTE = (AttachmentKind.CONCEPT_NOTE, "Concept note", "concept-note.pdf")
# Each proposal's own texts, by title: what a city writes about its own project (Da Nang's
# night market is lit, not fare-integrated), with its sectors, Japanese partner and files.
# The draft of the open call is left without a start, outcomes, files or declaration: the
# checklist has something to show.
PROPOSALS = {
    "Flood early-warning for the Han River basin": {
        "values": {
            "summary": "A city-wide system that warns residents hours before floods.",
            "problem": "Floods in the rainy season cut roads and damage homes every year.",
            "solution": "River sensors, a forecasting model and alerts by SMS and loudspeaker.",
            "total_cost_jpy": 80_000_000,
            "requested_jpy": 40_000_000,
            "instruments": [Instrument.MLIT_STUDY, Instrument.ODA],
        },
        "focus_areas": ["safety-security", "built-infrastructure"],
        "sectors": ["disaster-risk"],
        "partner": japanese_partner(
            "Tokyo Flood Research Institute", "Forecasting model", PartnerKind.UNIVERSITY
        ),
        "attachments": [],
    },
    "Bus rapid transit fare integration": {
        "values": {
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
        },
        "focus_areas": ["built-infrastructure", "quality-environment"],
        "sectors": ["transport"],
        "partner": japanese_partner("Nippon Koei Co., Ltd.", "Survey lead"),
        "attachments": [CONCEPT_NOTE, (AttachmentKind.MAP, "BRT corridor map", "map.pdf")],
    },
    "Digital twin of the city centre": {
        "values": {
            "summary": "One 3D model of Da Nang's centre for planning floods, traffic and "
            "buildings.",
            "problem": "Each department plans with its own maps; projects clash and flood "
            "defences are designed without the traffic and building data.",
            "solution": "A digital twin built from aerial survey and the city's registers, "
            "shared by the departments, with flood and traffic simulation.",
            "outcomes": "Plans checked against each other before approval; faster permits.",
            "indicators": "Permit time (today 45 days, target 20); departments using the "
            "model (target 8).",
            "start_date": datetime.date(2027, 4, 1),
            "duration_months": 12,
            "timeline": "Months 1-4 survey and data; 5-9 model; 10-12 pilot and plan.",
            "total_cost_jpy": 90_000_000,
            "requested_jpy": 45_000_000,
            "instruments": [Instrument.MLIT_STUDY, Instrument.JOIN_EQUITY],
            "declaration": True,
        },
        "focus_areas": ["built-infrastructure", "industry-innovation"],
        "sectors": ["urban-planning", "digital-government"],
        "partner": japanese_partner("Japan Smart City Partners", "Platform design"),
        "attachments": [
            CONCEPT_NOTE,
            (AttachmentKind.BUDGET, "Budget sheet", "budget.pdf"),
        ],
    },
    "Flood sensors in the Han River": {
        "values": {
            "summary": "Water-level sensors along the Han River feeding the city's control room.",
            "problem": "River levels are read by hand twice a day; floods come between readings.",
            "solution": "Forty radar level sensors with solar power and cellular links, "
            "and a dashboard for the control room.",
            "outcomes": "Flood warnings an hour earlier; fewer roads cut without notice.",
            "indicators": "Warning lead time (today 20 min, target 90 min).",
            "start_date": datetime.date(2027, 5, 1),
            "duration_months": 8,
            "timeline": "Months 1-2 site survey; 3-6 pilot stations; 7-8 roll-out plan.",
            "total_cost_jpy": 55_000_000,
            "requested_jpy": 35_000_000,
            "instruments": [Instrument.MLIT_STUDY, Instrument.ODA],
            "declaration": True,
        },
        "focus_areas": ["safety-security", "quality-environment"],
        "sectors": ["disaster-risk", "water"],
        "partner": japanese_partner("Kasen Sensing K.K.", "Sensor network"),
        "attachments": [
            CONCEPT_NOTE,
            (AttachmentKind.MAP, "Map of the sensor sites", "map.pdf"),
        ],
    },
    "Night market lighting": {
        "values": {
            "summary": "Efficient, safe lighting for Da Nang's night markets.",
            "problem": "The markets run on diesel generators and loose cables: noisy, "
            "dim and a fire risk.",
            "solution": "LED lighting on the public grid with smart meters and dimming "
            "after closing time.",
            "outcomes": "Safer markets, no generators, lower energy bills for vendors.",
            "indicators": "Generators in use (today 60, target 0); energy per stall (target -40%).",
            "start_date": datetime.date(2027, 6, 1),
            "duration_months": 6,
            "timeline": "Months 1-2 survey of the markets; 3-4 design; 5-6 tender plan.",
            "total_cost_jpy": 30_000_000,
            "requested_jpy": 20_000_000,
            "instruments": [Instrument.MLIT_STUDY],
            "declaration": True,
        },
        "focus_areas": ["safety-security", "quality-environment"],
        "sectors": ["energy", "tourism"],
        "partner": japanese_partner("Hikari Lighting Co., Ltd.", "Lighting design"),
        "attachments": [CONCEPT_NOTE],
    },
    "Waste collection routing": {
        "values": {
            "summary": "Collection routes planned from bin fill levels, not fixed rounds.",
            "problem": "Trucks follow fixed rounds: some bins overflow while others are "
            "collected half empty.",
            "solution": "Fill-level sensors on 500 bins and daily route optimisation for "
            "the city's 40 trucks.",
            "outcomes": "Fewer overflowing bins; less fuel and fewer truck hours.",
            "indicators": "Overflow complaints a month (today 300, target 50); fuel (target -25%).",
            "start_date": datetime.date(2027, 4, 1),
            "duration_months": 9,
            "timeline": "Months 1-3 survey; 4-6 pilot in two barangays; 7-9 plan.",
            "total_cost_jpy": 40_000_000,
            "requested_jpy": 30_000_000,
            "instruments": [Instrument.MLIT_STUDY],
            "declaration": True,
        },
        "focus_areas": ["quality-environment"],
        "sectors": ["waste"],
        "partner": japanese_partner("Eco Route Japan Inc.", "Routing software"),
        "attachments": [CONCEPT_NOTE],
    },
    "Coastal erosion monitoring": {
        "values": {
            "summary": "Drone and satellite monitoring of Cebu City's eroding coastline.",
            "problem": "The shoreline retreats up to two metres a year; nobody measures "
            "where or how fast.",
            "solution": "Quarterly drone surveys, satellite imagery and a public erosion "
            "map to plan defences.",
            "outcomes": "Defences built where erosion is fastest; families warned in time.",
            "indicators": "Coastline surveyed (target 100% each quarter).",
            "start_date": datetime.date(2027, 5, 1),
            "duration_months": 10,
            "timeline": "Months 1-3 baseline survey; 4-8 monitoring; 9-10 defence plan.",
            "total_cost_jpy": 35_000_000,
            "requested_jpy": 25_000_000,
            "instruments": [Instrument.MLIT_STUDY, Instrument.ODA],
            "declaration": True,
        },
        "focus_areas": ["quality-environment", "safety-security"],
        "sectors": ["disaster-risk"],
        "partner": japanese_partner("Kaigan Survey Co., Ltd.", "Drone survey"),
        "attachments": [CONCEPT_NOTE, (AttachmentKind.MAP, "Coastline map", "map.pdf")],
    },
    "Smart parking pilot": {
        "values": {
            "summary": "Parking sensors and payment by phone in the downtown district.",
            "problem": "Drivers circle for parking and block the jeepney lanes.",
            "solution": "Bay sensors, a parking app and dynamic prices on 800 bays.",
            "outcomes": "Less cruising traffic downtown; parking income for the city.",
            "indicators": "Time to find a bay (today 15 min, target 5 min).",
            "start_date": datetime.date(2027, 4, 1),
            "duration_months": 6,
            "timeline": "Months 1-2 survey; 3-5 pilot of 200 bays; 6 plan.",
            "total_cost_jpy": 25_000_000,
            "requested_jpy": 15_000_000,
            "instruments": [Instrument.MLIT_STUDY],
            "declaration": True,
        },
        "focus_areas": ["built-infrastructure"],
        "sectors": ["transport"],
        "partner": japanese_partner("Parking Systems Japan K.K.", "Sensors and payment"),
        "attachments": [CONCEPT_NOTE],
    },
    "Flood-resilient drainage": {
        "values": {
            "summary": "Drainage that keeps the low-lying districts dry in the typhoon season.",
            "problem": "Drains sized in the 1970s overflow in every typhoon; twelve "
            "barangays flood each year.",
            "solution": "Retention basins, larger trunk drains and pumps controlled from "
            "rainfall forecasts.",
            "outcomes": "Fewer flooded homes and days of school lost.",
            "indicators": "Households flooded a year (today 9,000, target 2,000).",
            "start_date": datetime.date(2027, 4, 1),
            "duration_months": 12,
            "timeline": "Months 1-4 hydraulic survey; 5-9 design; 10-12 financing plan.",
            "total_cost_jpy": 70_000_000,
            "requested_jpy": 45_000_000,
            "instruments": [Instrument.MLIT_STUDY, Instrument.JBIC_LOAN],
            "declaration": True,
        },
        "focus_areas": ["built-infrastructure", "safety-security"],
        "sectors": ["water", "disaster-risk"],
        "partner": japanese_partner("Nippon Survey Consultants Co., Ltd.", "Hydraulic survey"),
        "attachments": [
            CONCEPT_NOTE,
            (AttachmentKind.MAP, "Map of the flooded districts", "map.pdf"),
        ],
    },
}
