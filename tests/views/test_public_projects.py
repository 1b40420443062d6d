"""The public page of selected projects (issue 16, item 8): /projects/ and each published
project's public page at /projects/<code>/, for anybody who may not open the project itself;
published by staff in the admin with a checked image; cached for every reader alike, and never
showing a project that is not published."""

import io
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from proposals import services
from proposals.admin.projects import MAX_PUBLIC_IMAGE_BYTES
from proposals.models import (
    AuditEvent,
    DeliverableKind,
    DeliverableState,
    FinancingKind,
    FocusArea,
    Project,
)
from proposals.services import set_published
from smartjamp import cache_versions

from ..factories import UserFactory, image_bytes, make_call, make_proposal, pdf_bytes, upload

SUMMARY = "Sensors along the Han river warn 90% of households of floods in time."


def text(response) -> str:
    assert response.status_code == 200, response.status_code
    return " ".join(response.content.decode().split())


def main_of(page: str) -> str:
    """The page without its header (whose language switcher posts, with a token of its own)."""
    return page.split("<main", 1)[1].split("</main>", 1)[0]


def without_tokens(page: str) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", page)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def publish(project, staff, **public) -> Project:
    """`project` with a public summary (and `public` fields), published through the admin's
    service."""
    Project.objects.filter(pk=project.pk).update(public_summary=SUMMARY, **public)
    set_published(actor=staff, project=project, published=True)
    return Project.objects.get(pk=project.pk)


@pytest.fixture
def cebu_project(call, cebu, cebu_lead, approve):
    proposal = make_proposal(call, cebu, cebu_lead, title="Cebu bus rapid transit")
    proposal.focus_areas.set(FocusArea.objects.filter(code="built-infrastructure"))
    return approve(proposal, cebu_lead).project


@pytest.fixture
def consultant_elsewhere(cebu_project):
    """The consultant of Cebu's project, not of Da Nang's."""
    user = UserFactory(email="consultant@cebu-survey.example", full_name="Ren Kato")
    cebu_project.consultants.add(user)
    return user


@pytest.fixture
def outsiders(cebu_lead, reviewer, consultant_elsewhere):
    """Everybody who may not open Da Nang's project: a visitor, another city's lead, a
    reviewer, the consultant of another project."""
    return {
        "visitor": Client(),
        "cebu_lead": signed_in(cebu_lead),
        "reviewer": signed_in(reviewer),
        "consultant_elsewhere": signed_in(consultant_elsewhere),
    }


# Who sees what ---------------------------------------------------------------------------


def test_an_unpublished_project_is_absent_and_404_for_everyone_who_may_not_open_it(
    project, outsiders
):
    Project.objects.filter(pk=project.pk).update(
        public_summary=SUMMARY, public_image="public/x.png", public_image_type="image/png"
    )
    urls = [
        reverse("project_detail", args=[project.code]),
        reverse("public_project_image", args=[project.code]),
    ]
    for who, client in outsiders.items():
        listing = text(client.get(reverse("public_projects")))
        assert "Flood early warning" not in listing and project.code not in listing, who
        assert "0 projects" in listing and "No project is published yet." in listing
        for url in urls:
            assert client.get(url).status_code == 404, (who, url)


def test_a_visitor_gets_the_same_404_for_an_unpublished_project_as_for_none(project):
    unpublished = Client().get(reverse("project_detail", args=[project.code]))
    missing = Client().get(reverse("project_detail", args=["nosuchproject"]))
    assert (unpublished.status_code, missing.status_code) == (404, 404)
    page = without_tokens(" ".join(unpublished.content.decode().split()))
    assert page.replace(project.code, "nosuchproject") == without_tokens(
        " ".join(missing.content.decode().split())
    )
    # It offers to sign in and come back (a city's member following an email's link).
    assert f'href="/accounts/login/?next=%2Fprojects%2F{project.code}%2F"' in page
    assert "Flood early warning" not in page and "Da Nang" not in page


def test_readers_of_the_project_still_get_its_full_page(project, danang_lead, staff):
    url = reverse("project_detail", args=[project.code])
    for published in (False, True):
        if published:
            publish(project, staff)
        for user in (danang_lead, staff):
            page = text(signed_in(user).get(url))
            assert "Deliverables" in page and "Inception report" in page, (user, published)
            assert SUMMARY not in page


def test_my_projects_is_still_the_signed_in_readers_list(project, danang_lead, cebu_lead):
    assert "Flood early warning" in text(signed_in(danang_lead).get(reverse("my_projects")))
    assert "Flood early warning" not in text(signed_in(cebu_lead).get(reverse("my_projects")))
    assert Client().get(reverse("my_projects")).status_code == 302  # to sign in


@pytest.fixture
def everything_internal(project, staff, deliver):
    """Da Nang's project with what only its readers may see: the consultant's contact and
    contract, a deliverable's file, the signed minutes, a financing track with its amounts."""
    from proposals.models import KickOff

    consultant = UserFactory(email="kenji.mori@nippon-survey.example", full_name="Kenji Mori")
    project.consultants.add(consultant)
    Project.objects.filter(pk=project.pk).update(
        consultant_company="Nippon Survey KK",
        consultant_contact="Kenji Mori, +81 3 0000 0000",
        corporate_number="1234567890123",
        contract_amount_jpy=27_500_000,
        procurement_method="Quality-based selection",
    )
    KickOff.objects.create(
        project=project,
        held_on="2026-05-20",
        place="Da Nang City Hall",
        mlit_signatory="Counsellor Ito",
        city_signatory="Mayor of Da Nang",
        minutes="minutes/x.pdf",
        committee="Da Nang DOST",
    )
    services.upload_deliverable(
        user=consultant,
        deliverable=project.deliverables.get(kind=DeliverableKind.INCEPTION),
        upload=upload("inception-draft-confidential.pdf"),
    )
    project.deliverables.filter(kind=DeliverableKind.FINAL).update(state=DeliverableState.ACCEPTED)
    change = services.take_project_transition(
        actor=staff, project=project, name="promote_investment"
    )
    services.add_financing_track(
        actor=staff,
        project=change.project,
        kind=FinancingKind.JBIC_LOAN,
        counterpart="JBIC Infrastructure Group",
        contact="Hana Suzuki, hana@jbic.example",
        sought_jpy=2_000_000_000,
    )
    return publish(project, staff, public_title="Han river flood warnings")


def test_a_published_project_shows_its_public_summary_and_nothing_else(
    everything_internal, outsiders, staff
):
    project = everything_internal
    url = reverse("project_detail", args=[project.code])
    for who, client in outsiders.items():
        page = text(client.get(url))
        for shown in (
            '<h1 id="project-title">Han river flood warnings</h1>',
            "Da Nang, Viet Nam",
            "Quality environment",
            "Investment promotion",
            f"JFY {project.fiscal_year}",
            "Nippon Survey KK",
            SUMMARY,
        ):
            assert shown in page, (who, shown)
        for hidden in (
            "Flood early warning",  # the proposal's title: the public title is set
            "Kenji Mori",  # the consultant's contact and account
            "+81 3",
            "1234567890123",
            "27,500,000",  # the contract
            "Quality-based selection",
            "¥",  # any amount: the proposal's, the contract's, the financing's
            "2,000,000,000",
            "JBIC Infrastructure Group",
            "hana@jbic.example",
            "inception-draft-confidential",  # a deliverable's file
            "/files/",
            "Deliverables",
            "/minutes/",  # the signed minutes
            "Counsellor Ito",
            "an@danang.gov.vn",  # the proposal's contact
            "Nguyễn Văn An",  # the city's lead
            staff.full_name,
            reverse("proposal_detail", args=[project.proposal.code]),
        ):
            assert hidden not in page, (who, hidden)
        # No form that posts in the page itself (the header has the language switcher and a
        # signed-in reader's own sign-out button).
        assert "csrfmiddlewaretoken" not in main_of(page), who
        assert page.count("csrfmiddlewaretoken") == (1 if who == "visitor" else 2), who


def test_the_list_shows_each_published_project_once_with_its_public_summary(
    project, cebu_project, staff
):
    publish(project, staff)
    page = text(Client().get(reverse("public_projects")))
    assert "1 project" in page and page.count(f'href="/projects/{project.code}/"') == 1
    for shown in (
        "Flood early warning",  # no public title: the proposal's
        "Da Nang, Viet Nam",
        "Quality environment",
        "Formation survey",
        f"JFY {project.fiscal_year}",
        SUMMARY,
    ):
        assert shown in page, shown
    assert "Cebu bus rapid transit" not in page and cebu_project.code not in page


# Filters ---------------------------------------------------------------------------------


@pytest.fixture
def two_published(project, cebu_project, staff):
    """Da Nang's project (quality environment, formation survey) and Cebu's (built
    infrastructure, investment promotion, a year later), both published."""
    cebu_project.deliverables.filter(kind=DeliverableKind.FINAL).update(
        state=DeliverableState.ACCEPTED
    )
    services.take_project_transition(actor=staff, project=cebu_project, name="promote_investment")
    Project.objects.filter(pk=cebu_project.pk).update(fiscal_year=project.fiscal_year + 1)
    return publish(project, staff), publish(cebu_project, staff)


def titles(response) -> list[str]:
    return re.findall(r'<h3 class="h5 card-title"[^>]*><a href="[^"]+">([^<]+)</a>', text(response))


@pytest.mark.parametrize(
    "query, expected",
    [
        ({}, ["Cebu bus rapid transit", "Flood early warning"]),  # the last published first
        ({"country": "VN"}, ["Flood early warning"]),
        ({"country": "PH"}, ["Cebu bus rapid transit"]),
        ({"country": "TH"}, []),
        ({"focus_area": "quality-environment"}, ["Flood early warning"]),
        ({"focus_area": "built-infrastructure"}, ["Cebu bus rapid transit"]),
        ({"stage": "investment"}, ["Cebu bus rapid transit"]),
        ({"stage": "formation_survey", "country": "PH"}, []),
    ],
)
def test_the_list_filters_by_country_focus_area_and_stage(two_published, query, expected):
    assert titles(Client().get(reverse("public_projects"), query)) == expected


def test_the_list_filters_by_fiscal_year_among_the_years_published(two_published):
    danang, cebu = two_published
    page = text(Client().get(reverse("public_projects")))
    year = danang.fiscal_year
    assert f'<option value="{year + 1}">JFY {year + 1}</option>' in page
    assert f'<option value="{year}">JFY {year}</option>' in page
    response = Client().get(reverse("public_projects"), {"fiscal_year": year})
    assert titles(response) == ["Flood early warning"]
    assert f'<option value="{year}" selected>JFY {year}</option>' in text(response)


def test_an_invalid_filter_is_said_and_shows_no_project(two_published):
    response = Client().get(reverse("public_projects"), {"country": "XX", "fiscal_year": "1999"})
    page = text(response)
    assert titles(response) == []
    assert page.count("Select a valid choice.") == 2
    assert 'aria-describedby="id_country_error"' in page
    assert '<div class="invalid-feedback d-block" id="id_country_error">' in page
    assert "No published project matches these filters." in page


def test_the_filter_form_works_without_javascript_and_labels_its_fields(two_published):
    page = text(Client().get(reverse("public_projects")))
    assert '<form method="get" action="/projects/"' in page
    for name, label in (
        ("country", "Country"),
        ("focus_area", "Focus area"),
        ("stage", "Stage"),
        ("fiscal_year", "Japanese fiscal year"),
    ):
        assert f'<label class="form-label" for="id_{name}">{label}</label>' in page
    assert "<script" not in page


def test_the_pages_keep_the_filters(project, staff, approve, danang_lead, monkeypatch):
    from proposals.views import public_projects

    monkeypatch.setattr(public_projects, "PAGE_SIZE", 1)
    publish(project, staff)
    proposal = make_proposal(project.proposal.call, project.proposal.city, danang_lead, title="Two")
    publish(approve(proposal, danang_lead).project, staff)
    response = Client().get(reverse("public_projects"), {"country": "VN", "page": "x"})
    assert "Page 1 of 2" in text(response) and titles(response) == ["Two"]
    assert 'href="?country=VN&amp;page=2"' in response.content.decode()
    second = Client().get(reverse("public_projects"), {"country": "VN", "page": 2})
    assert "Page 2 of 2" in text(second) and titles(second) == ["Flood early warning"]
    assert 'href="?country=VN&amp;page=1"' in second.content.decode()


# Speed -----------------------------------------------------------------------------------


def test_the_list_queries_do_not_grow_with_rows(
    danang, danang_lead, approve, staff, django_assert_num_queries, assert_page_queries
):
    def published_project(n):
        # A call each: a city submits at most three proposals to one call.
        proposal = make_proposal(make_call(f"Call {n}"), danang, danang_lead, title=f"P{n}")
        proposal.focus_areas.add(FocusArea.objects.get(code="built-infrastructure"))
        publish(approve(proposal, danang_lead).project, staff, public_image="public/x.png")

    published_project(0)
    url = reverse("public_projects")
    client = Client()
    client.get(url)
    cache_versions.bump(cache_versions.PUBLIC_PROJECTS)  # the fragment built again
    with CaptureQueriesContext(connection) as one:
        client.get(url, {"focus_area": "built-infrastructure"})
    for n in range(1, 4):
        published_project(n)
    cache_versions.bump(cache_versions.PUBLIC_PROJECTS)
    with django_assert_num_queries(len(one.captured_queries)):
        response = client.get(url, {"focus_area": "built-infrastructure"})
    assert titles(response) == ["P3", "P2", "P1", "P0"]
    assert (
        text(response).count(
            "<dt>Focus areas</dt><dd>Quality environment, Built infrastructure</dd>"
        )
        == 4
    )
    # From the cache: the filter's focus area, read to validate the address, only; the bare
    # list asks for nothing but the cache.
    with assert_page_queries(1):
        client.get(url, {"focus_area": "built-infrastructure"})
    client.get(url)
    with assert_page_queries(0):
        client.get(url)


def test_the_public_page_queries_do_not_grow_with_focus_areas(
    project, staff, cebu_lead, django_assert_num_queries, assert_page_queries
):
    publish(project, staff)
    url = reverse("project_detail", args=[project.code])
    client = Client()
    client.get(url)
    cache_versions.bump(cache_versions.PUBLIC_PROJECTS)
    with CaptureQueriesContext(connection) as one:
        client.get(url)
    project.proposal.focus_areas.set(FocusArea.objects.all())
    with django_assert_num_queries(len(one.captured_queries)):
        page = text(client.get(url))
    assert "Civic and social" in page and "Quality environment" in page
    with assert_page_queries(1):  # the project: the rest is the cached fragment
        client.get(url)
    reader = signed_in(cebu_lead)
    reader.get(url)
    # The user, the gate's query (not theirs) and the published project.
    with assert_page_queries(3):
        assert "Civic and social" in text(reader.get(url))


# The cache -------------------------------------------------------------------------------


def test_unpublishing_takes_a_project_off_at_once_even_from_a_warm_cache(project, staff):
    publish(project, staff)
    visitor = Client()
    url = reverse("project_detail", args=[project.code])
    for _ in range(2):  # built, then read from the cache
        assert "Flood early warning" in text(visitor.get(reverse("public_projects")))
        assert SUMMARY in text(visitor.get(url))
    set_published(actor=staff, project=project, published=False)
    listing = text(visitor.get(reverse("public_projects")))
    assert "Flood early warning" not in listing and project.code not in listing
    assert visitor.get(url).status_code == 404
    assert visitor.get(reverse("public_project_image", args=[project.code])).status_code == 404


def test_each_change_of_what_it_shows_is_shown_at_once(project, staff, danang):
    project = publish(project, staff)
    visitor = Client()
    listing, url = reverse("public_projects"), reverse("project_detail", args=[project.code])

    def both() -> tuple[str, str]:
        return text(visitor.get(listing)), text(visitor.get(url))

    assert all("Flood early warning" in page for page in both())

    proposal = project.proposal
    proposal.title = "Flood early warning for the Han river"
    proposal.save()
    assert all("Flood early warning for the Han river" in page for page in both())

    project.public_title = "Han river floods"
    project.public_summary = "Now with sirens."
    project.save()
    assert all("Han river floods" in page and "Now with sirens." in page for page in both())

    danang.name = "Đà Nẵng"
    danang.save()
    assert all("Đà Nẵng, Viet Nam" in page for page in both())

    proposal.focus_areas.add(FocusArea.objects.get(code="civic-social"))
    assert all("Civic and social" in page for page in both())

    project.deliverables.filter(kind=DeliverableKind.FINAL).update(state=DeliverableState.ACCEPTED)
    services.take_project_transition(actor=staff, project=project, name="promote_investment")
    assert all("Investment promotion" in page for page in both())


def test_the_cached_pages_hold_nothing_of_a_signed_in_reader(project, staff, cebu_lead):
    publish(project, staff)
    reader = signed_in(cebu_lead)
    urls = [reverse("public_projects"), reverse("project_detail", args=[project.code])]
    for url in urls:
        assert "Maria Santos" in text(reader.get(url))  # the header is theirs
    for url in urls:  # the fragments they built
        page = text(Client().get(url))
        assert "Flood early warning" in page
        assert "Maria Santos" not in page and "csrfmiddlewaretoken" not in main_of(page)
        assert "Sign out" not in page and "Admin panel" not in page


# Publishing in the admin -----------------------------------------------------------------


def change_form(project, **fields) -> dict:
    """The project's admin form as staff would post it, with `fields`."""
    data = {
        "report_by": project.report_by.isoformat(),
        "fiscal_year": project.fiscal_year,
        "consultants": "",
        "public_title": project.public_title,
        "public_summary": project.public_summary,
    }
    if project.published:
        data["published"] = "on"
    for prefix in ("kickoff", "payments", "financing_tracks", "invitations", "stage_changes"):
        data |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}
    for n, deliverable in enumerate(project.deliverables.all()):
        data |= {
            f"deliverables-{n}-id": deliverable.pk,
            f"deliverables-{n}-project": project.pk,
            f"deliverables-{n}-due_on": deliverable.due_on.isoformat(),
        }
    data["deliverables-TOTAL_FORMS"] = data["deliverables-INITIAL_FORMS"] = "4"
    return data | fields


def image_upload(name="river.png", content=None, content_type="image/png"):
    return upload(name, image_bytes() if content is None else content, content_type)


@pytest.mark.parametrize(
    "image, message",
    [
        (
            image_upload("river.png", pdf_bytes("not an image")),
            "This file is not a PNG or JPEG document (its content was checked, not its name).",
        ),
        (
            image_upload("river.png", image_bytes("GIF")),
            "This file is not a PNG or JPEG document (its content was checked, not its name).",
        ),
        (
            image_upload("river.png", image_bytes() + b"\0" * MAX_PUBLIC_IMAGE_BYTES),
            "The file is 5.0\xa0MB; at most 5.0\xa0MB is accepted.",
        ),
    ],
    ids=["pdf", "gif", "oversized"],
)
def test_an_image_that_is_not_a_png_or_jpeg_of_5_mb_is_refused(
    project, staff, private_files, image, message
):
    before = private_files()
    response = signed_in(staff).post(
        reverse("admin:proposals_project_change", args=[project.pk]),
        change_form(project, public_summary=SUMMARY, public_image=image),
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["public_image"] == [message]
    project.refresh_from_db()
    assert (project.public_image.name, project.public_image_type, project.public_summary) == (
        "",
        "",
        "",
    )
    assert private_files() == before


def test_an_image_past_the_upload_limit_is_refused_with_a_message(
    project, staff, private_files, settings
):
    settings.UPLOAD_HARD_LIMIT_BYTES = 200  # the upload handler skips the file
    before = private_files()
    response = signed_in(staff).post(
        reverse("admin:proposals_project_change", args=[project.pk]),
        change_form(project, public_image=image_upload(content=image_bytes(size=(400, 300)))),
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["public_image"] == [
        "The file is larger than 200\xa0bytes and was not accepted."
    ]
    assert private_files() == before


def test_staff_publish_from_the_form_with_a_checked_image(
    project, staff, private_files, django_capture_on_commit_callbacks
):
    client = signed_in(staff)
    change = reverse("admin:proposals_project_change", args=[project.pk])
    refused = client.post(change, change_form(project, published="on"))
    assert refused.context["adminform"].form.errors["public_summary"] == [
        "Write the public summary before publishing the project."
    ]
    assert not Project.objects.get(pk=project.pk).published
    jpeg = image_bytes("JPEG")
    response = client.post(
        change,
        change_form(
            project,
            published="on",
            public_title="Han river flood warnings",
            public_summary=SUMMARY,
            public_image=image_upload("Ảnh sông.png", jpeg),  # a JPEG whatever its name
        ),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    project.refresh_from_db()
    assert project.published and project.published_at is not None
    assert project.public_image_type == "image/jpeg"
    assert re.fullmatch(r"public/[0-9a-f]{32}\.jpg", project.public_image.name)
    assert [name for name in private_files() if name.startswith("public/")] == [
        project.public_image.name
    ]
    assert (
        AuditEvent.objects.filter(action="project.published", proposal=project.proposal).count()
        == 1
    )

    form = text(client.get(change))
    assert 'class="fieldset-heading">Public summary</h2>' in form
    assert project.public_image.name in form

    image = Client().get(reverse("public_project_image", args=[project.code]))
    assert (image.status_code, image["Content-Type"]) == (200, "image/jpeg")
    assert image["Content-Disposition"] == f'inline; filename="{project.code}.jpg"'
    # Stored re-encoded (its pixels only: uploads.reencoded_image), the same picture.
    from PIL import Image

    served = Image.open(io.BytesIO(b"".join(image.streaming_content)))
    assert (served.format, served.size) == ("JPEG", Image.open(io.BytesIO(jpeg)).size)
    page = text(Client().get(reverse("project_detail", args=[project.code])))
    assert f'src="/projects/{project.code}/image/"' in page and "Han river flood warnings" in page

    # A new image replaces the old one, whose file goes once the change is committed.
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(change, change_form(project, public_image=image_upload()))
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.public_image_type == "image/png"
    assert [name for name in private_files() if name.startswith("public/")] == [
        project.public_image.name
    ]


def test_the_image_is_served_only_while_published(project, staff):
    client = signed_in(staff)
    client.post(
        reverse("admin:proposals_project_change", args=[project.pk]),
        change_form(project, public_summary=SUMMARY, public_image=image_upload()),
    )
    project.refresh_from_db()
    assert project.public_image_type == "image/png" and not project.published
    url = reverse("public_project_image", args=[project.code])
    for reader in (Client(), client):  # staff too: the address is the public page's
        assert reader.get(url).status_code == 404
    set_published(actor=staff, project=project, published=True)
    assert Client().get(url).status_code == 200
    set_published(actor=staff, project=project, published=False)
    assert Client().get(url).status_code == 404
    publish(Project.objects.get(pk=project.pk), staff)
    Project.objects.filter(pk=project.pk).update(public_image="", public_image_type="")
    assert Client().get(url).status_code == 404  # published without an image


def test_staff_publish_and_unpublish_as_admin_actions(project, cebu_project, staff):
    client = signed_in(staff)
    changelist = reverse("admin:proposals_project_changelist")
    Project.objects.filter(pk=project.pk).update(public_summary=SUMMARY)
    response = client.post(
        changelist,
        {"action": "publish", "_selected_action": [project.pk, cebu_project.pk]},
        follow=True,
    )
    page = text(response)
    assert "1 project published." in page
    assert f"{cebu_project}: Write the public summary before publishing the project." in page
    project.refresh_from_db()
    first = project.published_at
    assert project.published and first is not None
    assert not Project.objects.get(pk=cebu_project.pk).published

    client.post(changelist, {"action": "unpublish", "_selected_action": [project.pk]})
    project.refresh_from_db()
    assert (project.published, project.published_at) == (False, first)
    client.post(changelist, {"action": "publish", "_selected_action": [project.pk]})
    project.refresh_from_db()
    assert (project.published, project.published_at) == (True, first)  # when first published
    assert list(
        AuditEvent.objects.filter(action__startswith="project.")
        .exclude(action__in=["project.created"])
        .order_by("pk")
        .values_list("action", "actor", "details__project")
    ) == [
        ("project.published", staff.pk, project.code),
        ("project.unpublished", staff.pk, project.code),
        ("project.published", staff.pk, project.code),
    ]


@pytest.mark.parametrize("role", ["danang_lead", "reviewer"])
def test_only_staff_publish(request, project, role):
    user = request.getfixturevalue(role)
    if role == "danang_lead":
        user.is_staff = True
        user.save()
    Project.objects.filter(pk=project.pk).update(public_summary=SUMMARY)
    response = signed_in(user).post(
        reverse("admin:proposals_project_changelist"),
        {"action": "publish", "_selected_action": [project.pk]},
    )
    assert response.status_code in (302, 403, 404)
    assert not Project.objects.get(pk=project.pk).published


# The way in ------------------------------------------------------------------------------


def test_the_header_and_home_page_link_the_public_list(official):
    home = text(Client().get(reverse("home")))
    assert '<a class="nav-link" href="/projects/">Selected projects</a>' in home
    assert '<a href="/projects/">See the projects selected so far</a>' in home
    page = text(signed_in(official).get(reverse("home")))
    assert '<a class="nav-link" href="/projects/">Selected projects</a>' in page
    assert '<a class="nav-link" href="/projects/mine/">My projects</a>' in page
