"""Fill the database with realistic, varied data at scale, quickly (bulk inserts).

    python manage.py generate_load_data --cities 1000 --proposals 20000 --reviews-per-proposal 3

Every country, every status, Unicode names, attachments as small real files, reviews with
scores, status changes and notifications. Run it on an empty database (after migrate and
seed_demo, whose personas it gives proposals and assignments too).
"""

import datetime
import random

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.utils import timezone

from proposals.fiscal import fiscal_year, fiscal_year_end
from proposals.management.commands.seed_demo import RUBRIC, demo_letter
from proposals.models import (
    Aggregation,
    AssignmentState,
    Attachment,
    AttachmentKind,
    Call,
    City,
    CityMembership,
    Country,
    Deliverable,
    DeskRequest,
    DeskTopic,
    FinancingTrack,
    FocusArea,
    JapanesePartner,
    Notification,
    Project,
    Proposal,
    Review,
    ReviewAssignment,
    RubricCriterion,
    Score,
    Sector,
    Stage,
    StatusChange,
    User,
)
from proposals.models.project import default_plan
from proposals.roles import REVIEWERS, ensure_role_groups
from proposals.scoring import weighted_score
from proposals.text import normalise_name
from smartjamp import cache_versions

PLACE_STEMS = {
    "VN": ["Thành phố", "Huyện", "Tỉnh"],
    "TH": ["เทศบาลนคร", "จังหวัด"],
    "KH": ["ក្រុង", "ខេត្ត"],
    "LA": ["ເມືອງ", "ແຂວງ"],
    "MM": ["မြို့", "တိုင်း"],
    "ID": ["Kota", "Kabupaten"],
    "MY": ["Bandaraya", "Majlis"],
    "PH": ["City of", "Municipality of"],
    "SG": ["Town"],
    "BN": ["Daerah"],
    "TL": ["Munisípiu"],
}
TITLES = [
    "Flood early warning",
    "Smart street lighting",
    "Bus fare integration",
    "Digital land registry",
    "Hệ thống cảnh báo lũ",
    "ระบบขนส่งอัจฉริยะ",
    "ប្រព័ន្ធគ្រប់គ្រងសំរាម",
    "Water leakage detection",
    "Air quality sensors",
    "スマート農業",
    "Traffic signal optimisation",
    "E-government one-stop",
]
# Share of proposals in each state (all nine appear).
STATUSES = [
    ("draft", 10),
    ("submitted", 8),
    ("screening", 7),
    ("revision_requested", 5),
    ("under_review", 25),
    ("shortlisted", 10),
    ("approved", 12),
    ("rejected", 15),
    ("withdrawn", 8),
]
REVIEWED = {"under_review", "shortlisted", "approved", "rejected"}
BATCH = 2000
UNUSABLE = make_password(None)  # generated people cannot sign in


def add_tags_and_partners(proposals, areas, sectors) -> None:
    """A focus area, a sector and a Japanese partner for each of `proposals` (just created in
    bulk), in three bulk inserts."""
    Proposal.focus_areas.through.objects.bulk_create(
        Proposal.focus_areas.through(proposal=p, focusarea=areas[i % len(areas)])
        for i, p in enumerate(proposals)
    )
    Proposal.sectors.through.objects.bulk_create(
        Proposal.sectors.through(proposal=p, sector=sectors[i % len(sectors)])
        for i, p in enumerate(proposals)
    )
    JapanesePartner.objects.bulk_create(
        JapanesePartner(
            proposal=p, name=f"パートナー {i % 40} Co., Ltd.", kind="company", role="Survey"
        )
        for i, p in enumerate(proposals)
    )


# Share of projects in each stage, and how far along their survey is.
PROJECT_STAGES = [
    ("formation_survey", 50),
    ("investment", 25),
    ("consultation", 10),
    ("closed", 10),
    ("cancelled", 5),
]
FINANCING = ["join_equity", "jbic_loan", "jica_loan", "jica_grant", "private"]
FINANCING_STATUSES = ["identified", "referred", "under_appraisal", "approved", "declined"]
CONSULTANTS = ["Nippon Koei", "Oriental Consultants", "Pacific Consultants", "Yachiyo Engineering"]


def add_projects(approved, rng) -> None:
    """The project of each of the `approved` proposals, with its plan, as approving makes it
    (services.projects.create_project), then moved along: stages, accepted deliverables, the
    survey's contract, financing tracks, and most of them published; in bulk inserts."""
    stages = [stage for stage, weight in PROJECT_STAGES for _ in range(weight)]
    projects = Project.objects.bulk_create(
        Project(
            proposal=p,
            fiscal_year=year,
            report_by=fiscal_year_end(year),
            stage=stage,
            cancel_reason="Generated." if stage == "cancelled" else "",
            consultant_company=f"{CONSULTANTS[i % len(CONSULTANTS)]} Co., Ltd.",
            contract_amount_jpy=p.approved_jpy,
            published=stage != "cancelled" and i % 5 != 0,
            published_at=p.decided_at if stage != "cancelled" and i % 5 != 0 else None,
            public_summary="A generated project. " * 4,
        )
        for i, p in enumerate(approved)
        for year in [fiscal_year(p.decided_at)]
        for stage in [stages[i % len(stages)]]
    )
    deliverables = []
    for project in projects:
        accepted = 4 if project.stage != "formation_survey" else rng.randrange(0, 4)
        for n, (kind, due) in enumerate(default_plan(project.fiscal_year)):
            state = "accepted" if n < accepted else ("uploaded" if n == accepted else "planned")
            deliverables.append(Deliverable(project=project, kind=kind, due_on=due, state=state))
    Deliverable.objects.bulk_create(deliverables)
    tracks = []
    for project in projects:
        if project.stage not in ("investment", "consultation", "closed"):
            continue
        for n in range(rng.randrange(1, 4)):
            status = rng.choice(FINANCING_STATUSES)
            sought = rng.randrange(100, 5000) * 1_000_000
            tracks.append(
                FinancingTrack(
                    project=project,
                    kind=FINANCING[(project.pk + n) % len(FINANCING)],
                    counterpart="Generated counterpart",
                    sought_jpy=sought,
                    committed_jpy=sought // 2 if status == "approved" else None,
                    status="disbursed" if status == "approved" and n == 0 else status,
                )
            )
    FinancingTrack.objects.bulk_create(tracks)


def add_desk_requests(count, leads, projects, rng) -> None:
    """`count` consultation-desk requests of city leads, some linked to a project, open,
    answered or closed, opened over the last two months (so some are overdue)."""
    now = timezone.now()
    topics = [choice for choice, _label in DeskTopic.choices]
    cities = list(leads.items())
    requests = DeskRequest.objects.bulk_create(
        DeskRequest(
            topic=topics[n % len(topics)],
            subject=f"Generated question #{n}",
            body="Question. " * 20,
            requester=lead,
            city_id=city_id,
            project=projects[n % len(projects)] if projects and n % 3 == 0 else None,
            state=["open", "answered", "closed"][n % 3],
            first_answered_at=now if n % 3 else None,
            closed_at=now if n % 3 == 2 else None,
        )
        for n in range(count)
        for city_id, lead in [cities[n % len(cities)]]
    )
    # auto_now_add sets the opening time at insert: spread them over the last 60 days.
    for start in range(0, len(requests), BATCH):
        for request in requests[start : start + BATCH]:
            request.created_at = now - datetime.timedelta(hours=rng.randrange(1, 60 * 24))
        DeskRequest.objects.bulk_update(requests[start : start + BATCH], ["created_at"])


class Command(BaseCommand):
    help = "Generate realistic data at scale with bulk inserts (for benchmarks)."

    def add_arguments(self, parser):
        parser.add_argument("--cities", type=int, default=1000)
        parser.add_argument("--proposals", type=int, default=20000)
        parser.add_argument("--reviews-per-proposal", type=int, default=3)
        parser.add_argument("--reviewers", type=int, default=30)
        parser.add_argument("--desk-requests", type=int, default=1000)
        parser.add_argument("--seed", type=int, default=2026)

    @transaction.atomic
    def handle(
        self,
        *args,
        cities,
        proposals,
        reviews_per_proposal,
        reviewers,
        desk_requests,
        seed,
        **options,
    ):
        rng = random.Random(seed)
        ensure_role_groups()
        started = timezone.now()
        countries = list(Country.objects.filter(asean_member=True).order_by("iso2"))
        calls = self._calls(countries, rng)
        city_rows = self._cities(cities, countries, rng)
        members = self._members(city_rows, rng)
        reviewer_rows = self._reviewers(reviewers)
        self._proposals(
            proposals, calls, city_rows, members, reviewer_rows, reviews_per_proposal, rng
        )
        add_desk_requests(desk_requests, members, list(Project.objects.all()[:500]), rng)
        if connection.vendor == "postgresql":
            # After a bulk load the planner's statistics still describe the empty tables (until
            # autovacuum gets round to them): with them, the admin's proposal list planned a
            # full scan of the reviews per row and took 2.8 s instead of 60 ms.
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        # Bulk inserts send no signal: new numbers retire the dashboard, the portfolio and the
        # public projects cached before.
        cache_versions.bump(cache_versions.REPORTS)
        cache_versions.bump(cache_versions.PUBLIC_PROJECTS, cache_versions.PORTFOLIO)
        elapsed = (timezone.now() - started).total_seconds()
        self.stdout.write(
            self.style.SUCCESS(
                f"Generated {len(city_rows)} cities, {Proposal.objects.count()} proposals, "
                f"{Review.objects.count()} reviews, {Project.objects.count()} projects, "
                f"{DeskRequest.objects.count()} desk requests, "
                f"{Notification.objects.count()} notifications "
                f"in {elapsed:.1f} s."
            )
        )

    def _calls(self, countries, rng):
        now = timezone.now()
        calls = []
        for year in range(2020, 2027):
            for stage in (Stage.FORMATION_SURVEY, Stage.INVESTMENT):
                closes = datetime.datetime(year, 11, 30, 8, tzinfo=datetime.UTC)
                if year == 2026 and stage == Stage.FORMATION_SURVEY:
                    closes = now + datetime.timedelta(days=20)  # one call still open
                calls.append(
                    Call(
                        title=f"Smart JAMP {year}: {Stage(stage).label.lower()}",
                        stage=stage,
                        description="Generated call.",
                        opens_at=closes - datetime.timedelta(days=90),
                        closes_at=closes,
                        max_request_jpy=50_000_000,
                        envelope_jpy=2_000_000_000,
                        max_proposals_per_city=50,
                        # Both ways of combining reviews, so that pages and exports show both.
                        score_aggregation=(
                            Aggregation.MEDIAN if stage == Stage.INVESTMENT else Aggregation.MEAN
                        ),
                    )
                )
        calls = Call.objects.bulk_create(calls)
        calls = list(Call.objects.filter(description="Generated call.").order_by("pk"))
        through = Call.eligible_countries.through
        through.objects.bulk_create(
            through(call=call, country=country) for call in calls for country in countries
        )
        RubricCriterion.objects.bulk_create(
            RubricCriterion(
                call=call,
                name=name,
                weight=weight,
                description=text,
                position=n,
                **dict(zip(RubricCriterion.DESCRIPTORS, meanings, strict=True)),
            )
            for call in calls
            for n, (name, weight, text, meanings) in enumerate(RUBRIC)
        )
        return calls

    def _cities(self, count, countries, rng):
        rows = []
        for n in range(count):
            country = countries[n % len(countries)]
            stem = rng.choice(PLACE_STEMS.get(country.iso2, ["City"]))
            name = f"{stem} {n}"
            rows.append(
                City(
                    country=country,
                    name=name,
                    name_key=normalise_name(name) + f"x{n}",
                    time_zone=country.time_zone,
                    verification_status="verified",
                    ascn_status=rng.choice(["", "", "", "member", "candidate"]),
                    population=rng.randint(50_000, 9_000_000),
                    registered_at=timezone.now(),
                )
            )
        City.objects.bulk_create(rows, batch_size=BATCH)
        return list(City.objects.filter(name_key__contains="x").order_by("pk"))

    def _members(self, cities, rng):
        users = User.objects.bulk_create(
            (
                User(
                    email=f"official{n}.{role}@load.example",
                    full_name=f"Official {n} {role}",
                    password=UNUSABLE,
                    time_zone=city.time_zone,
                )
                for n, city in enumerate(cities)
                for role in ("lead", "editor")
            ),
            batch_size=BATCH,
        )
        CityMembership.objects.bulk_create(
            (
                CityMembership(
                    city=cities[i // 2], user=user, role="lead" if i % 2 == 0 else "editor"
                )
                for i, user in enumerate(users)
            ),
            batch_size=BATCH,
        )
        # The demo leads are members of their city only; give Da Nang's lead a share too.
        return {city.pk: users[2 * i] for i, city in enumerate(cities)}

    def _reviewers(self, count):
        group = Group.objects.get(name=REVIEWERS)
        created = User.objects.bulk_create(
            User(
                email=f"reviewer.load{n}@mlit.example",
                full_name=f"Reviewer {n}",
                password=UNUSABLE,
                is_staff=True,
                country_id="JP",
            )
            for n in range(count)
        )
        group.user_set.add(*created)
        return list(group.user_set.all().order_by("pk"))

    def _proposals(self, count, calls, cities, leads, reviewers, reviews, rng):
        files = [
            default_storage.save(f"attachments/load-{n}.pdf", demo_letter(f"Note {n}"))
            for n in range(5)
        ]
        areas, sectors = list(FocusArea.objects.all()), list(Sector.objects.all())
        states = [state for state, weight in STATUSES for _ in range(weight)]
        now = timezone.now()
        demo = list(
            City.objects.filter(name__in=["Da Nang", "Cebu City"]).exclude(memberships=None)
        )
        sequence = {}
        for start in range(0, count, BATCH):
            batch = []
            for n in range(start, min(start + BATCH, count)):
                city = demo[n % len(demo)] if demo and n % 400 == 0 else cities[n % len(cities)]
                call = calls[n % len(calls)]
                status = states[n % len(states)]
                submitted = (
                    None
                    if status == "draft"
                    else call.closes_at - datetime.timedelta(hours=n % 2000)
                )
                reference = None
                if submitted:
                    key = (submitted.year, city.country_id)
                    sequence[key] = sequence.get(key, 0) + 1
                    reference = f"SJ-{submitted.year}-{city.country_id}-{sequence[key]:05d}"
                requested = rng.randrange(5_000_000, 50_000_000, 100_000)
                batch.append(
                    Proposal(
                        call=call,
                        city=city,
                        title=f"{rng.choice(TITLES)} #{n}",
                        summary="Generated proposal. " * 5,
                        problem="Problem. " * 20,
                        solution="Solution. " * 20,
                        outcomes="Outcomes.",
                        indicators="Indicators.",
                        total_cost_jpy=requested * 2,
                        requested_jpy=requested,
                        approved_jpy=requested // 2 if status == "approved" else None,
                        status=status,
                        reference_code=reference,
                        submitted_at=submitted,
                        decided_at=submitted + datetime.timedelta(days=60)
                        if status in ("approved", "rejected")
                        else None,
                        decision_letter="Decision." if status in ("approved", "rejected") else "",
                        contact_name="Contact",
                        contact_email="contact@load.example",
                        instruments=["mlit_study"],
                        declaration=status != "draft",
                    )
                )
            created = Proposal.objects.bulk_create(batch)
            add_tags_and_partners(created, areas, sectors)
            Attachment.objects.bulk_create(
                Attachment(
                    proposal=p,
                    kind=AttachmentKind.CONCEPT_NOTE,
                    file=files[i % len(files)],
                    name="concept-note.pdf",
                    content_type="application/pdf",
                    size=600,
                )
                for i, p in enumerate(created)
            )
            StatusChange.objects.bulk_create(
                StatusChange(
                    proposal=p, from_status="draft", to_status=p.status, message="Generated."
                )
                for p in created
                if p.status != "draft"
            )
            Notification.objects.bulk_create(
                Notification(
                    recipient_id=leads[p.city_id].pk if p.city_id in leads else None,
                    email="lead@load.example",
                    kind="status_changed",
                    language="en",
                    subject=f"Smart JAMP: {p.title}",
                    body_text="Generated.",
                    state="sent",
                    dedup_key=f"load:{p.pk}",
                    sent_at=now,
                )
                for p in created
            )
            self._reviews([p for p in created if p.status in REVIEWED], reviewers, reviews, rng)
            add_projects([p for p in created if p.status == "approved"], rng)

    def _reviews(self, proposals, reviewers, per, rng):
        if not proposals:
            return
        criteria = {}
        for criterion in RubricCriterion.objects.filter(call__in={p.call_id for p in proposals}):
            criteria.setdefault(criterion.call_id, []).append(criterion)
        assignments = ReviewAssignment.objects.bulk_create(
            ReviewAssignment(
                proposal=p,
                reviewer=reviewers[(i * per + k) % len(reviewers)],
                due=(p.submitted_at + datetime.timedelta(days=30)).date(),
                state=AssignmentState.SUBMITTED
                if p.status != "under_review" or k
                else AssignmentState.ACCEPTED,
                declared_at=p.submitted_at,
            )
            for i, p in enumerate(proposals)
            for k in range(per)
        )
        submitted = [a for a in assignments if a.state == AssignmentState.SUBMITTED]
        by_proposal = {p.pk: p for p in proposals}
        values = [
            [
                (criterion, rng.randint(1, 5))
                for criterion in criteria[by_proposal[a.proposal_id].call_id]
            ]
            for a in submitted
        ]
        review_rows = Review.objects.bulk_create(
            Review(
                assignment=a,
                comment="Generated review.",
                recommendation="fund",
                submitted_at=a.declared_at + datetime.timedelta(days=10),
                weighted_score=weighted_score([(c.weight, value) for c, value in scores]),
            )
            for a, scores in zip(submitted, values, strict=True)
        )
        Score.objects.bulk_create(
            Score(review=review, criterion=criterion, value=value)
            for review, scores in zip(review_rows, values, strict=True)
            for criterion, value in scores
        )
