"""Every page in every language (issue 17): each page of the portal, rendered for each persona
in each language of settings.LANGUAGES, says so in `<html lang>` and shows none of the English
texts that its catalogue translates.

The pages are every named URL pattern of the portal (the URL conf is walked, so a page added
later must be listed here, in ROUTES with the objects it is opened with, or in EXCLUDED with a
reason) opened with the objects of the demo (`seed_demo`: calls, a draft and submitted
proposals, a review round, projects, desk requests, notifications) by the demo's personas.
A signed-in persona reads in their profile's `language`; an anonymous visitor in the language
of their browser's Accept-Language (and of the header's switcher, which posts to /language/).

The sentinels are derived: the English page's headings, title, buttons, labels, table heads,
legends, button links, navigation and the admin's action names, kept where the catalogue of
the target language translates them (gettext(text) != text); a few are listed by hand too.
"""

import io
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest
from django.conf import settings
from django.contrib import admin
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import translation

pytestmark = pytest.mark.django_db

LANGUAGES = [code for code, _name in settings.LANGUAGES]
TRANSLATED = [code for code in LANGUAGES if code != "en"]

# Texts every translated page must be without, where they are UI texts (checked to be msgids of
# the templates: the header's, the home page's, the draft form's, the review form's).
HARD_CODED = ["Sign in", "Sign out", "Sign up", "My proposals", "Save draft", "Change", "Language"]


# Reading a page ---------------------------------------------------------------------------


class _Page(HTMLParser):
    """The page's language, its UI texts (title, h1-h3, button, label, th, legend, links styled
    as buttons or navigation, submit inputs, the admin's action names) and its visible texts."""

    UI_TAGS = {"title", "h1", "h2", "h3", "button", "label", "th", "legend"}
    HIDDEN = {"script", "style", "template"}
    VOID = {"br", "img", "input", "meta", "link", "hr", "source", "wbr"}
    # What a page quotes as it was written, not a text of the page: an email read in the portal
    # is shown in the language it was sent in (the reader's then), like a city's name is data.
    QUOTED = {"notification-text"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.lang = None
        self.ui: list[str] = []
        self.visible: list[str] = []
        self._stack: list[tuple[str, bool, list[str]]] = []  # (tag, is_ui, text parts)
        self._hidden = 0
        self._in_action_select = False
        self._quoted = 0  # the depth inside an element of QUOTED

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "html":
            self.lang = attrs.get("lang")
        if tag in self.HIDDEN:
            self._hidden += 1
            return
        if tag == "input" and attrs.get("type") in {"submit", "button"} and attrs.get("value"):
            self.ui.append(_norm(attrs["value"]))
            self.visible.append(_norm(attrs["value"]))
        if tag == "select":
            self._in_action_select = attrs.get("name") == "action"
        if tag in self.VOID:
            return
        classes = (attrs.get("class") or "").split()
        if self._quoted or self.QUOTED & set(classes):
            self._quoted += 1
            return
        is_ui = (
            tag in self.UI_TAGS
            or (tag == "a" and ("btn" in classes or "nav-link" in classes))
            or (tag == "option" and self._in_action_select)
        )
        self._stack.append((tag, is_ui, []))

    def handle_endtag(self, tag):
        if tag in self.HIDDEN:
            self._hidden = max(0, self._hidden - 1)
            return
        if tag == "select":
            self._in_action_select = False
        if self._quoted:
            if tag not in self.VOID:
                self._quoted -= 1
            return
        while self._stack:
            open_tag, is_ui, parts = self._stack.pop()
            if is_ui:
                self.ui.append(_norm(" ".join(parts)))
            if self._stack:
                self._stack[-1][2].extend(parts)
            if open_tag == tag:
                break

    def handle_data(self, data):
        if self._quoted:
            return
        if self._hidden and not (self._stack and self._stack[-1][0] == "title"):
            return
        text = _norm(data)
        if not text:
            return
        self.visible.append(text)
        if self._stack:
            self._stack[-1][2].append(text)


def _norm(text: str) -> str:
    return " ".join(text.split())


def read(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


def variants(text: str) -> set[str]:
    """The text and what a template adds to a msgid: a colon, a required field's asterisk,
    the admin's title suffix ("… | Smart JAMP")."""
    found = {text}
    for candidate in list(found):
        found.add(candidate.rstrip(" :*"))
        found.update(part.strip() for part in re.split(r" [|·] ", candidate))
    return {t for t in found if t}


def sentinels(english: _Page, language: str) -> set[str]:
    """The English page's UI texts that the catalogue of `language` translates (not a city's
    name: the city of Singapore is data, though the country's name is translated)."""
    from proposals.models import City

    cities = set(City.objects.values_list("name", flat=True))
    found = set()
    with translation.override(language):
        for text in english.ui:
            for candidate in variants(text):
                translated = translation.gettext(candidate)
                # Not where the translation keeps the English (a name in brackets after it).
                shown_alike = candidate in translated or candidate in cities
                if re.search(r"[A-Za-z]{2}", candidate) and not shown_alike:
                    found.add(candidate)
    return found


def hard_coded(language: str) -> set[str]:
    with translation.override(language):
        return {text for text in HARD_CODED if translation.gettext(text) != text}


def english_left(page: _Page, texts: set[str]) -> set[str]:
    """Which of `texts` the page still shows: as a UI text or a text of its own, or (several
    words long) inside a visible text."""
    shown = set()
    for text in page.ui + page.visible:
        shown.update(variants(text))
    joined = "\n".join(page.visible)
    return {
        text
        for text in texts
        if text in shown
        or (len(text.split()) >= 3 and re.search(rf"\b{re.escape(text)}\b", joined))
    }


# The pages ----------------------------------------------------------------------------------


def _walk(patterns, namespace=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = namespace + (f"{pattern.namespace}:" if pattern.namespace else "")
            yield from _walk(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern) and pattern.name:
            yield namespace + pattern.name


def named_patterns() -> set[str]:
    return set(_walk(get_resolver().url_patterns))


def _first(queryset):
    obj = queryset.first()
    return [obj] if obj is not None else []


def _one_of_each(queryset, attribute):
    seen, found = set(), []
    for obj in queryset:
        if getattr(obj, attribute) not in seen:
            seen.add(getattr(obj, attribute))
            found.append(obj)
    return found


def _proposals():
    from proposals.models import Proposal

    return _one_of_each(Proposal.objects.order_by("city__name", "pk"), "status")


def _proposals_in(*statuses):
    """One proposal of each of `statuses`: for pages that differ by little more than that."""
    return lambda: [proposal for proposal in _proposals() if proposal.status in statuses]


def _projects():
    from proposals.models import Project

    return list(Project.objects.order_by("pk"))


def _code(obj) -> dict:
    return {"code": obj.code}


def _no_args():
    return [("", {})]


def _stable(obj) -> str:
    """A label the same in every test's demo (codes are random)."""
    return str(obj).replace(getattr(obj, "code", None) or "\x00", "")


def _each(objects, kwargs=_code, label=_stable):
    return lambda: [(label(obj), kwargs(obj)) for obj in objects()]


def _cities():
    from proposals.models import City

    return list(City.objects.filter(registered_at__isnull=False).order_by("name"))


def _calls():
    from proposals.models import Call

    return list(Call.objects.order_by("opens_at"))


def _desk_requests():
    from proposals.models import DeskRequest

    return _one_of_each(DeskRequest.objects.order_by("pk"), "state")


def _assignments():
    from proposals.models import ReviewAssignment

    return list(ReviewAssignment.objects.select_related("proposal", "reviewer").order_by("pk"))


def _attachments():
    """An attachment of each editable proposal's state (its removal asks a confirmation)."""
    from proposals.models import Attachment

    editable = [p for p in _proposals() if p.is_editable]
    return _one_of_each(
        Attachment.objects.filter(proposal__in=editable)
        .select_related("proposal")
        .order_by("proposal__city__name", "proposal__pk", "pk"),
        "proposal_id",
    )


def _notifications(persona):
    """The persona's own latest email of each kind (another's is theirs alone: a 404)."""
    from proposals.models import Notification

    email = PERSONAS.get(persona)
    if email is None:
        return []
    return _one_of_each(
        Notification.objects.filter(recipient__email=email).order_by("-created_at", "-pk"),
        "kind",
    )


def _per_persona(build):
    """A builder of the pages a persona opens with objects of their own: called with it."""
    build.per_persona = True
    return build


# The secret of the invitation the crawl's demo holds (only its email holds it otherwise).
_INVITATION = {}


def _invitation_tokens():
    return [("to a colleague", {"token": _INVITATION["token"]})] if _INVITATION else []


# Each page of the portal with the objects it is opened with: url name -> [(label, kwargs)].
ROUTES = {
    "home": _no_args,
    "profile": _no_args,
    "account_login": _no_args,
    "account_signup": _no_args,
    "account_logout": _no_args,
    "account_email": _no_args,
    "account_change_password": _no_args,
    "account_reset_password": _no_args,
    "account_reset_password_done": _no_args,
    "account_email_verification_sent": _no_args,
    "account_inactive": _no_args,
    "account_reset_password_from_key_done": _no_args,
    "mfa_index": _no_args,
    "mfa_list_webauthn": _no_args,
    "my_cities": _no_args,
    "register_city": _no_args,
    "city_detail": _each(_cities),
    "call_list": _no_args,
    "call_detail": _each(_calls),
    "public_projects": _no_args,
    "my_projects": _no_args,
    "project_detail": _each(_projects),
    "my_proposals": _no_args,
    "proposal_detail": _each(_proposals, label=lambda p: p.status),
    "proposal_edit": _each(_proposals, label=lambda p: p.status),
    "proposal_receipt": _each(_proposals, label=lambda p: p.status),
    "proposal_print": _each(_proposals, label=lambda p: p.status),
    "proposal_withdraw": _each(_proposals, label=lambda p: p.status),
    # The same form whatever the earlier proposal's state: a draft and a decided one.
    "proposal_copy": _each(_proposals_in("draft", "rejected"), label=lambda p: p.status),
    # The confirmations: what will be sent, before removing an attachment.
    "proposal_submit": _each(_proposals, label=lambda p: p.status),
    "proposal_attachment_delete": _each(
        _attachments,
        lambda a: {"code": a.proposal.code, "attachment_code": a.code},
        lambda a: f"{a.proposal.status} · {a.name}",
    ),
    "city_invitation": _invitation_tokens,
    "desk": _no_args,
    "desk_new": _no_args,
    "desk_request": _each(_desk_requests, label=lambda r: r.state),
    "notifications": _no_args,
    "notification_detail": _per_persona(
        lambda persona: [(n.kind, {"pk": n.pk}) for n in _notifications(persona)]
    ),
    "staff_dashboard": _no_args,
    "staff_portfolio": _no_args,
    "admin:index": _no_args,
    "admin:proposals_call_ranking": _each(_calls, lambda c: {"object_id": c.pk}),
    "admin:proposals_proposal_screening": _each(
        _proposals, lambda p: {"object_id": p.pk}, lambda p: p.status
    ),
    "admin:proposals_proposal_decision": _each(
        _proposals, lambda p: {"object_id": p.pk}, lambda p: p.status
    ),
    # With the form (under review) and without (decided); the summary's form is the same.
    "admin:proposals_proposal_consensus": _each(
        _proposals_in("under_review", "rejected"), lambda p: {"object_id": p.pk}, lambda p: p.status
    ),
    "admin:proposals_proposal_evaluation": _each(
        _proposals_in("rejected"), lambda p: {"object_id": p.pk}, lambda p: p.status
    ),
    "admin:proposals_proposal_versions": _each(
        _proposals, lambda p: {"object_id": p.pk}, lambda p: p.status
    ),
    "admin:proposals_reviewassignment_review": _each(
        # Labelled by what they are, not by their keys: PostgreSQL's sequences go on
        # between tests, so the English crawl's keys are not the next test's.
        _assignments,
        lambda a: {"pk": a.pk},
        lambda a: f"{a.proposal.title} · {a.reviewer.email}",
    ),
}


def _admin_routes():
    """The admin's own pages of every registered model: its list, its add form, and the change
    form and history of its first object; each application's index."""
    routes = {}
    for model, _model_admin in admin.site._registry.items():
        prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"

        def first(model=model):
            obj = model._default_manager.order_by("pk").first()
            return [] if obj is None else [("first", {"object_id": obj.pk})]

        routes[f"{prefix}_changelist"] = _no_args
        routes[f"{prefix}_add"] = _no_args
        routes[f"{prefix}_change"] = first
        if model._meta.model_name == "proposal":  # Django's own templates: once is enough
            routes[f"{prefix}_history"] = first
            routes[f"{prefix}_delete"] = first
    apps = sorted({model._meta.app_label for model in admin.site._registry})
    routes["admin:app_list"] = lambda: [(app, {"app_label": app}) for app in apps]
    return routes


ROUTES.update(_admin_routes())

_POST = "takes a POST only (a form's action, no page of its own)"
_FILE = "a file or an export, not a page"
_KEY = "needs a one-time key from an email or a sign-in in progress"
EXCLUDED = {
    "healthz": "JSON, not a page",
    "set_language": "the switcher's POST (tested on its own below)",
    "city_join": _POST,
    "city_manage_member": _POST,
    "city_answer_request": _POST,
    "proposal_message": _POST,
    "proposal_attachment_upload": _POST,
    "desk_reply": _POST,
    "call_start_proposal": _POST,
    "proposal_ready": _POST,
    "city_invite": _POST,
    "city_revoke_invitation": _POST,
    "city_verify": _POST,
    "city_reject": _POST,
    "deliverable_upload": _POST,
    "deliverable_review": _POST,
    "kickoff_minutes": _FILE,
    "mfa_activate_totp": "asks a recent re-authentication (staff have their authenticator)",
    "mfa_view_recovery_codes": "no recovery codes in the demo",
    "desk_close": _POST,
    "desk_link": _POST,
    "city_letter": _FILE,
    "public_project_image": _FILE,
    "deliverable_file": _FILE,
    "financing_document": _FILE,
    "proposal_attachment": _FILE,
    "desk_file": _FILE,
    "staff_export_projects": _FILE,
    "staff_export_deliverables": _FILE,
    "staff_export_financing_tracks": _FILE,
    "staff_export_proposals": _FILE,
    "staff_export_summary": _FILE,
    "staff_export_review_progress": _FILE,
    "staff_export_ranking": _FILE,
    "staff_export_job_download": _FILE,
    "staff_export_job": "a background export's progress: no export job in the demo",
    "admin:proposals_reviewassignment_attachment": _FILE,
    "admin:proposals_auditevent_export": _FILE,
    "admin:jsi18n": "JavaScript",
    "admin:autocomplete": "JSON",
    "admin:view_on_site": "a redirect to the object's page",
    "admin:login": "redirects to the portal's sign-in (account_login)",
    "admin:logout": "a POST; the portal's sign-out is account_logout",
    "admin:password_change": "redirects to the portal's (account_change_password)",
    "admin:password_change_done": "redirects to the portal's (account_change_password)",
    "admin:auth_user_password_change": (
        "a user's password: set by themselves (account_change_password)"
    ),
    "account_confirm_email": _KEY,
    "account_reset_password_from_key": _KEY,
    "account_set_password": "only for an account without a password (none in the demo)",
    "account_confirm_login_code": _KEY,
    "account_reauthenticate": _KEY,
    "mfa_authenticate": _KEY,
    "mfa_reauthenticate": _KEY,
    "mfa_reauthenticate_webauthn": _KEY,
    "mfa_deactivate_totp": "asks a recent re-authentication",
    "mfa_generate_recovery_codes": "asks a recent re-authentication",
    "mfa_download_recovery_codes": _FILE,
    "mfa_add_webauthn": "asks a recent re-authentication",
    "mfa_remove_webauthn": "needs a passkey (none in the demo)",
    "mfa_edit_webauthn": "needs a passkey (none in the demo)",
}

PERSONAS = {
    "anonymous": None,
    "city lead": "lead.danang@example.org",
    "city editor": "editor.danang@example.org",
    "other city's lead": "lead.cebu@example.org",
    "programme staff": "staff@example.org",
    "reviewer": "reviewer1@example.org",
    "consultant": "consultant@example.org",
}


@pytest.fixture
def demo(reference_data):
    from proposals import services
    from proposals.models import City, MemberRole, User

    call_command("seed_demo", stdout=io.StringIO())
    # An invitation to Da Nang's team, by its lead: its page is what the link in the email
    # opens (a colleague not signed in is asked to sign in; a signed-in persona, who is not
    # the invited address, is told why it is not theirs).
    lead = User.objects.get(email=PERSONAS["city lead"])
    city = City.objects.filter(
        memberships__user=lead, memberships__role=MemberRole.LEAD, name="Da Nang"
    ).get()
    _invitation, token = services.invite_to_city(
        actor=lead, city=city, email="colleague.danang@example.org"
    )
    _INVITATION["token"] = token
    yield
    _INVITATION.clear()


ADMIN_PERSONAS = {"programme staff", "reviewer"}
NOT_FOUND = "/no-such-page/"  # the 404 page, in each persona's language too


def pages_of(persona: str):
    """[(url name, label, path)] a persona may open: the admin's for admin users only."""
    found = [("404", "", NOT_FOUND)]
    for name, build in ROUTES.items():
        if name.startswith("admin:") and persona not in ADMIN_PERSONAS:
            continue
        built = build(persona) if getattr(build, "per_persona", False) else build()
        for label, kwargs in built:
            found.append((name, label, reverse(name, kwargs=kwargs)))
    return found


def client_for(persona: str, language: str) -> Client:
    from proposals.models import User

    email = PERSONAS[persona]
    if email is None:
        return Client(raise_request_exception=False, HTTP_ACCEPT_LANGUAGE=language)
    user = User.objects.get(email=email)
    user.language = language
    user.save(update_fields=["language"])
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


@dataclass
class Crawl:
    pages: dict = field(default_factory=dict)  # (name, label) -> _Page, of the 200s (and 404)
    statuses: dict = field(default_factory=dict)  # (name, label) -> status


_ENGLISH: dict[str, Crawl] = {}  # persona -> the English crawl (labels, not codes: reusable)


def crawl(persona: str, language: str, only=None) -> Crawl:
    client = client_for(persona, language)
    result = Crawl()
    for name, label, path in pages_of(persona):
        if only is not None and (name, label) not in only:
            continue
        response = client.get(path)
        result.statuses[(name, label)] = response.status_code
        expected = 404 if name == "404" else 200
        if response.status_code == expected and "html" in response.get("Content-Type", ""):
            result.pages[(name, label)] = read(response.content.decode())
    return result


def english(persona: str) -> Crawl:
    if persona not in _ENGLISH:
        _ENGLISH[persona] = crawl(persona, "en")
    return _ENGLISH[persona]


def _cases():
    for persona in PERSONAS:
        for language in TRANSLATED:
            yield pytest.param(persona, language, id=f"{persona}-{language}")


def test_every_named_url_is_crawled_or_excluded_with_a_reason():
    generic = re.compile(r"^admin:\w+_(history|delete)$")  # Django's own: crawled once
    missing = {
        name
        for name in named_patterns()
        if name not in ROUTES and name not in EXCLUDED and not generic.match(name)
    }
    assert not missing, f"pages neither in ROUTES nor in EXCLUDED: {sorted(missing)}"
    assert not set(ROUTES) & set(EXCLUDED)


def test_every_page_opens_for_some_persona_in_english(demo):
    opened = {name for persona in PERSONAS for name, _label in english(persona).pages}
    # The admin's forms of what no persona may add or change (allauth's and Django's own
    # models are the superuser's) are the only ones left out.
    allowed = re.compile(r"^admin:(account|auth|mfa)_|^admin:\w+_(add|delete|history|change)$")
    never = {name for name in ROUTES if name not in opened and not allowed.match(name)}
    assert not never, f"pages no persona of the demo opens: {sorted(never)}"
    for persona in PERSONAS:
        for key, page in english(persona).pages.items():
            assert page.lang == "en", (persona, key, page.lang)


@pytest.mark.parametrize(("persona", "language"), list(_cases()))
def test_every_page_is_in_the_readers_language(demo, persona, language):
    base = english(persona)
    translated = crawl(persona, language, only=set(base.pages))
    always = hard_coded(language)
    problems = []
    for key, page_en in base.pages.items():
        page = translated.pages.get(key)
        if page is None:
            problems.append(f"{key}: status {translated.statuses.get(key)} (200 in English)")
            continue
        if page.lang != language:
            problems.append(f"{key}: <html lang={page.lang!r}>")
        left = english_left(page, sentinels(page_en, language) | always)
        if left:
            problems.append(f"{key}: {sorted(left)}")
    assert not problems, f"{persona} in {language}:\n" + "\n".join(problems)


def test_the_switcher_sets_the_visitors_language_and_the_readers_profile(demo):
    from proposals.models import User

    visitor = Client()
    response = visitor.post(reverse("set_language"), {"language": "th", "next": "/"})
    assert response.status_code == 302
    page = read(visitor.get(reverse("home")).content.decode())
    assert page.lang == "th"
    assert not english_left(page, hard_coded("th"))

    lead = User.objects.get(email=PERSONAS["city lead"])
    reader = Client()
    reader.force_login(lead)
    reader.post(reverse("set_language"), {"language": "vi", "next": "/"})
    lead.refresh_from_db()
    assert lead.language == "vi"
    page = read(reader.get(reverse("my_proposals")).content.decode())
    assert page.lang == "vi"
    assert not english_left(page, sentinels(english("city lead").pages[("home", "")], "vi"))
