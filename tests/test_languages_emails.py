"""Every email in every language (issue 17): each kind of notification (a folder of
templates/emails/, so a kind added later is covered too) rendered in each language of
settings.LANGUAGES shows, in its subject, text and HTML, none of the English lines of its
English rendering that the catalogue translates; and `notify` stores the recipient's language
on the outbox row.

The contexts are those the portal itself renders: the demo (`seed_demo`), the reminders run
over it and the team's actions the demo does not take (Da Nang's lead invites a colleague, its
editor marks the draft ready for the lead) are recorded; a kind that none of them sends is
rendered with the demo's objects under the names the other kinds use.
"""

import datetime
import io
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import translation

from proposals import notifications, reminders

from .test_languages_pages import HARD_CODED, english_left, read, sentinels

pytestmark = pytest.mark.django_db

TEMPLATES = Path(settings.BASE_DIR) / "templates" / "emails"
KINDS = sorted(path.name for path in TEMPLATES.iterdir() if (path / "subject.txt").exists())
LANGUAGES = [code for code, _name in settings.LANGUAGES]
TRANSLATED = [code for code in LANGUAGES if code != "en"]


def _generic_context() -> dict:
    """The demo's objects, under the names the notifications give them."""
    from proposals.models import (
        Call,
        City,
        DeliverableVersion,
        DeskMessage,
        DeskRequest,
        FinancingTrack,
        JoinRequest,
        Message,
        Project,
        ProjectStageChange,
        Proposal,
        ReviewAssignment,
        StatusChange,
        User,
    )

    project = Project.objects.order_by("pk").first()
    desk_request = DeskRequest.objects.order_by("pk").first()
    return {
        "city": City.objects.filter(registered_at__isnull=False).order_by("pk").first(),
        "call": Call.objects.order_by("pk").first(),
        "proposal": project.proposal if project else Proposal.objects.order_by("pk").first(),
        "project": project,
        "assignment": ReviewAssignment.objects.order_by("pk").first(),
        "join_request": JoinRequest.objects.order_by("pk").first(),
        "message": Message.objects.order_by("pk").first(),
        "desk_request": desk_request,
        "desk_message": DeskMessage.objects.order_by("pk").first(),
        "version": DeliverableVersion.objects.order_by("pk").first(),
        "track": FinancingTrack.objects.order_by("pk").first(),
        "status_change": StatusChange.objects.order_by("pk").first(),
        "stage_change": ProjectStageChange.objects.order_by("pk").first(),
        "who": User.objects.filter(is_staff=False).order_by("pk").first(),
        "joined": False,
        "days": 3,
        "days_left": 3,
        "rows": 12,
        "target": settings.DESK_FIRST_ANSWER_WORKING_DAYS,
        "deadline": datetime.datetime(2027, 3, 31, 8, tzinfo=datetime.UTC),
        "has_draft": True,
    }


def _teams_work() -> None:
    """What the demo's people do in teams and the demo does not: an invitation
    (city_invitation) and a draft marked ready for the lead (draft_ready), through the
    services that send them. (city_registered is sent by the demo's registrations.)"""
    from proposals import services
    from proposals.models import City, MemberRole, Proposal, User

    lead = User.objects.get(email="lead.danang@example.org")
    editor = User.objects.get(email="editor.danang@example.org")
    city = City.objects.get(
        name="Da Nang", memberships__user=lead, memberships__role=MemberRole.LEAD
    )
    services.invite_to_city(actor=lead, city=city, email="colleague.danang@example.org")
    draft = Proposal.objects.filter(city=city, status="draft").order_by("pk").first()
    services.mark_ready_for_lead(user=editor, proposal=draft)


@pytest.fixture
def contexts(reference_data, monkeypatch):
    """{kind: context}: the first context each kind was rendered with in the demo, and the
    demo's objects for the kinds it never sends."""
    recorded = {}
    original = notifications.render

    def record(kind, context, **kwargs):
        recorded.setdefault(str(kind), dict(context))
        return original(kind, context, **kwargs)

    monkeypatch.setattr(notifications, "render", record)
    call_command("seed_demo", stdout=io.StringIO())
    for remind in (
        reminders.deadline_reminders,
        reminders.announce_open_calls,
        reminders.review_reminders,
        reminders.deliverable_reminders,
        reminders.desk_overdue,
    ):
        remind()
    _teams_work()
    monkeypatch.setattr(notifications, "render", original)
    generic = _generic_context()
    return {kind: recorded.get(kind, generic) for kind in KINDS}


def render_all(kind: str, context: dict, language: str) -> tuple[str, str, str]:
    return notifications.render(kind, context, language=language, time_zone="Asia/Tokyo")


def translated_lines(english: tuple[str, str, str], language: str) -> set[str]:
    """The lines of the English subject and text, and the UI texts and lines of its HTML, that
    the catalogue of `language` translates (and whose translation is not the English)."""
    subject, text, html = english
    candidates = {subject, *text.splitlines(), *read(html).visible}
    found = set()
    with translation.override(language):
        for line in candidates:
            line = " ".join(line.split())
            for candidate in {line, line.rstrip(" :"), line.rstrip(".")}:
                if re.search(r"[A-Za-z]{2}", candidate):
                    translated = translation.gettext(candidate)
                    if candidate not in translated:
                        found.add(candidate)
    return found | sentinels(read(html), language)


def english_in(rendered: tuple[str, str, str], texts: set[str]) -> set[str]:
    subject, text, html = rendered
    page = read(html)
    page.visible += [" ".join(subject.split())] + [" ".join(t.split()) for t in text.splitlines()]
    return english_left(page, texts)


# Untranslated strings found (kind, language) -> reason; the lead engineer removes them.


def _cases():
    for kind in KINDS:
        for language in TRANSLATED:
            yield pytest.param(kind, language, id=f"{kind}-{language}")


def test_every_kind_has_its_three_templates_and_a_notification_kind():
    from proposals.models import NotificationKind

    assert len(KINDS) >= 20
    for kind in KINDS:
        for name in ("subject.txt", "body.txt", "body.html"):
            assert (TEMPLATES / kind / name).exists(), (kind, name)
        assert kind in NotificationKind.values, kind


def test_every_kind_renders_in_english(contexts):
    # The team's kinds are rendered with what their senders give them, not the generic objects.
    for kind, names in {
        "city_invitation": {"invitation", "city", "inviter"},
        "city_registered": {"city", "registered_by"},
        "draft_ready": {"proposal", "city", "by"},
    }.items():
        assert names <= set(contexts[kind]), (kind, sorted(contexts[kind]))
    for kind in KINDS:
        subject, text, html = render_all(kind, contexts[kind], "en")
        assert subject and text.strip() and html.strip(), kind
        assert read(html).lang == "en", kind


_RENDERED: dict[tuple[str, str], tuple[str, str, str]] = {}  # strings: reusable across tests


@pytest.fixture
def rendered(request):
    """{(kind, language): (subject, text, html)}, rendered once for the whole module (the
    demo is made again in each test's database; what is rendered from it is only text)."""
    if not _RENDERED:
        found = request.getfixturevalue("contexts")
        for kind in KINDS:
            for language in LANGUAGES:
                _RENDERED[(kind, language)] = render_all(kind, found[kind], language)
    return _RENDERED


@pytest.mark.parametrize(("kind", "language"), list(_cases()))
def test_every_email_is_in_the_recipients_language(rendered, kind, language):
    english = rendered[(kind, "en")]
    with translation.override(language):
        always = {text for text in HARD_CODED if translation.gettext(text) != text}
    left = english_in(rendered[(kind, language)], translated_lines(english, language) | always)
    assert not left, f"{kind} in {language}: {sorted(left)}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_emails_html_says_its_language(rendered, language):
    wrong = {kind: read(rendered[(kind, language)][2]).lang for kind in KINDS}
    assert {kind: lang for kind, lang in wrong.items() if lang != language} == {}


def test_notify_stores_the_recipients_language(reference_data, danang):
    from proposals.models import Notification, NotificationKind

    from .factories import UserFactory

    reader = UserFactory(email="reader.vi@example.org", full_name="Phạm Thu")
    reader.language = "vi"
    reader.save(update_fields=["language"])
    notifications.notify(
        kind=NotificationKind.CITY_VERIFIED,
        dedup_key="languages:city-verified",
        recipient=reader,
        context={"city": danang},
        link=f"/cities/{danang.code}/",
    )
    row = Notification.objects.get(dedup_key="languages:city-verified")
    assert row.language == "vi"
    english = render_all("city_verified", {"city": danang}, "en")
    rendered = (row.subject, row.body_text, row.body_html)
    assert not english_in(rendered, translated_lines(english, "vi"))
