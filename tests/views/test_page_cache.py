"""The portal's pages change as soon as what they show changes (the dashboard's cached
fragment too: see tests/views/test_staff.py), and no page carries another reader's token."""

import datetime
import re

from django.test import Client
from django.urls import reverse

from proposals import services
from proposals.models import (
    AttachmentKind,
    CityMembership,
    DeadlineExtension,
    MemberRole,
    RubricCriterion,
    VerificationStatus,
)
from smartjamp import cache_versions

from ..conftest import member
from ..factories import make_call, make_proposal, upload


def text(response) -> str:
    assert response.status_code == 200
    return " ".join(response.content.decode().split())


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def extend(call, city, *, by, days=3) -> DeadlineExtension:
    """Staff give `city` `days` more than the call's deadline."""
    return DeadlineExtension.objects.create(
        call=call,
        city=city,
        closes_at=call.closes_at + datetime.timedelta(days=days),
        reason="Flood",
        granted_by=by,
    )


def test_proposal_page_shows_each_change_at_once(call, danang, danang_lead, danang_editor, staff):
    proposal = make_proposal(call, danang, danang_lead)
    url = reverse("proposal_detail", args=[proposal.code])
    lead, editor, programme = signed_in(danang_lead), signed_in(danang_editor), signed_in(staff)
    for client in (lead, editor, programme):
        assert "No messages yet." in text(client.get(url))

    services.post_message(user=danang_editor, proposal=proposal, body="When is the site visit?")
    assert "When is the site visit?" in text(lead.get(url))

    services.add_attachment(
        user=danang_editor,
        proposal=proposal,
        kind=AttachmentKind.OTHER,
        upload=upload("site-map.pdf"),
    )
    assert "site-map.pdf" in text(lead.get(url))

    danang_editor.full_name = "Trần Thị Bình Renamed"
    danang_editor.save()
    assert "Trần Thị Bình Renamed" in text(programme.get(url))

    services.submit_proposal(user=danang_lead, proposal=proposal)
    page = text(lead.get(url))
    assert "Submitted" in page and "Edit the draft" not in page


def test_staff_and_officials_do_not_share_a_cached_thread(call, danang, danang_lead, staff):
    proposal = make_proposal(call, danang, danang_lead)
    services.post_message(user=staff, proposal=proposal, body="Please add the budget.")
    url = reverse("proposal_detail", args=[proposal.code])
    assert "Aiko Tanaka" in text(signed_in(staff).get(url))
    page = text(signed_in(danang_lead).get(url))
    assert "Aiko Tanaka" not in page and "Programme staff" in page


def test_proposal_page_shows_a_granted_extension_at_once(call, danang, danang_lead, staff, clock):
    proposal = make_proposal(call, danang, danang_lead)
    url = reverse("proposal_detail", args=[proposal.code])
    lead = signed_in(danang_lead)
    lead.get(url)
    extended = call.closes_at + datetime.timedelta(days=3)
    extend(call, danang, by=staff)
    assert extended.isoformat() in lead.get(url).content.decode()


def test_proposal_page_after_a_revision_request(call, danang, danang_lead, staff):
    proposal = make_proposal(call, danang, danang_lead)
    services.submit_proposal(user=danang_lead, proposal=proposal)
    url = reverse("proposal_detail", args=[proposal.code])
    lead = signed_in(danang_lead)
    lead.get(url)
    proposal.refresh_from_db()
    services.screen_proposal(actor=staff, proposal=proposal)
    proposal.refresh_from_db()
    services.request_revision(
        actor=staff,
        proposal=proposal,
        message="Add the operating costs.",
        due=call.closes_at + datetime.timedelta(days=20),
    )
    page = text(lead.get(url))
    assert "Add the operating costs." in page and "Resubmit the proposal" in page


def calls_listed(client) -> dict[str, list[str]]:
    page = client.get(reverse("call_list")).content.decode()
    return {
        phase: re.findall(r'<h3 class="h5 mb-1"><a href="[^"]+">([^<]*)</a>', section)
        for phase, section in re.findall(
            r'<section aria-labelledby="calls-(\w+)".*?>(.*?)</section>', page, re.S
        )
    }


def test_call_list_changes_with_calls_and_the_clock(client, reference_data, clock):
    now = clock.set(datetime.datetime(2026, 11, 20, 3, 0, tzinfo=datetime.UTC))
    make_call("First", closes_at=now + datetime.timedelta(seconds=30))
    assert calls_listed(client)["open"] == ["First"]
    make_call("Second")
    assert calls_listed(client)["open"] == ["First", "Second"]
    # The first call closes between two requests: the cached list holds only until then.
    clock.set(now + datetime.timedelta(seconds=30))
    assert calls_listed(client) == {"open": ["Second"], "upcoming": [], "closed": ["First"]}


def test_call_list_follows_a_readers_home_city(call, danang, cebu, staff, clock):
    official = member(cebu, "official@example.org", "Lê Minh", MemberRole.LEAD)
    extend(call, danang, by=staff)
    clock.set(call.closes_at + datetime.timedelta(days=1))
    reader = signed_in(official)  # after the clock's jump (sessions lapse after 12 idle hours)
    assert calls_listed(reader)["closed"] == [call.title]
    # Moved to Da Nang: its extension is theirs now.
    CityMembership.objects.filter(user=official).delete()
    CityMembership.objects.create(user=official, city=danang, role=MemberRole.EDITOR)
    assert calls_listed(reader)["open"] == [call.title]
    # Another reader is not served this reader's list.
    assert calls_listed(Client())["closed"] == [call.title]


def test_call_page_shows_each_change_at_once(call, danang, danang_lead, danang_editor, staff):
    url = reverse("call_detail", args=[call.code])
    lead = signed_in(danang_lead)
    assert "Start a proposal" in text(lead.get(url))

    make_proposal(call, danang, danang_editor, title="Smart drainage", complete=False)
    assert "Smart drainage" in text(lead.get(url))

    RubricCriterion.objects.create(call=call, name="Inclusiveness", weight=1, position=2)
    assert "Inclusiveness" in text(lead.get(url))

    danang.verification_status = VerificationStatus.REJECTED
    danang.rejection_reason = "Letter unsigned"
    danang.save()
    page = text(lead.get(url))
    assert "must be verified" in page and "Start a proposal" not in page

    call.title = "Smart JAMP 2027, second round"
    call.save()
    assert "<title>Smart JAMP 2027, second round" in text(lead.get(url))


def test_call_page_is_not_shared_between_readers(call, danang, danang_lead, cebu_lead):
    make_proposal(call, danang, danang_lead, title="Da Nang own idea", complete=False)
    url = reverse("call_detail", args=[call.code])
    assert "Da Nang own idea" in text(signed_in(danang_lead).get(url))
    assert "Da Nang" not in text(signed_in(cebu_lead).get(url)).split("Your cities")[1]
    anonymous = text(Client().get(url))
    assert "Sign in to apply" in anonymous and "Da Nang own idea" not in anonymous


def test_call_page_time_left_moves_on_and_the_call_closes(client, call, danang_lead, clock):
    url = reverse("call_detail", args=[call.code])
    clock.set(call.closes_at - datetime.timedelta(minutes=10))
    assert "10 minutes left" in text(client.get(url))
    clock.set(call.closes_at - datetime.timedelta(minutes=9))
    assert "9 minutes left" in text(client.get(url))
    clock.set(call.closes_at)
    page = text(client.get(url))
    assert "left" not in page.split("Closes")[1][:200] and "Sign in to apply" not in page


def test_unknown_call_is_404_until_it_exists(client, reference_data):
    for _ in range(2):
        assert client.get(reverse("call_detail", args=["nosuchcall"])).status_code == 404
    call = make_call("Now it exists")
    assert "Now it exists" in text(client.get(reverse("call_detail", args=[call.code])))


def test_a_change_is_seen_after_a_read_during_its_transaction(
    staff, call, danang, danang_lead, django_capture_on_commit_callbacks
):
    """A page read while a change was being committed may cache the old rows under the
    number bumped at once; the bump after commit makes that copy unreachable."""
    with django_capture_on_commit_callbacks(execute=True):
        make_proposal(call, danang, danang_lead)
        during = cache_versions.current(cache_versions.REPORTS)
    assert cache_versions.current(cache_versions.REPORTS)[0] > during[0]


def test_pages_work_while_the_cache_is_unreachable(
    settings, call, danang, danang_lead, staff, caplog
):
    """Redis down: every page answers (slower), the cached dashboard included, and the login
    rate limit fails safe: a sign-in is refused as rate-limited, never let through uncounted."""
    proposal = make_proposal(call, danang, danang_lead)
    settings.CACHES = {
        "default": {
            "BACKEND": "smartjamp.cache.ForgivingRedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",  # nothing listens on the discard port
        }
    }
    lead, programme = signed_in(danang_lead), signed_in(staff)
    for client, url in (
        (lead, reverse("call_list")),
        (lead, reverse("call_detail", args=[call.code])),
        (lead, reverse("my_proposals")),
        (lead, reverse("proposal_detail", args=[proposal.code])),
        (programme, reverse("staff_dashboard")),
        (Client(), reverse("home")),
    ):
        assert client.get(url).status_code == 200, url
    assert "Redis unreachable, going on without it" in caplog.text
    # A refused page is recorded all the same (its deduplication lives in the cache).
    assert lead.get(reverse("proposal_detail", args=["nosuchproposal"])).status_code == 404

    visitor = Client()
    response = visitor.post(
        reverse("account_login"), {"login": danang_lead.email, "password": "password"}
    )
    assert response.status_code == 429
    assert "_auth_user_id" not in visitor.session


def test_my_proposals_shows_each_change_at_once(
    call, danang, cebu, danang_lead, danang_editor, cebu_lead, staff
):
    proposal = make_proposal(call, danang, danang_editor, title="Flood sensors")
    url = reverse("my_proposals")
    lead = signed_in(danang_lead)
    assert "Flood sensors" in text(lead.get(url))

    # A colleague renames the draft; staff move it on; the city and the call are renamed.
    proposal.title = "Flood sensors, phase 2"
    proposal.save()
    assert "Flood sensors, phase 2" in text(lead.get(url))
    services.submit_proposal(user=danang_lead, proposal=proposal)
    assert "Submitted" in text(lead.get(url))
    danang.name = "Đà Nẵng"
    danang.save()
    assert "Đà Nẵng" in text(lead.get(url))
    call.title = "Smart JAMP 2027, second round"
    call.save()
    page = text(lead.get(url))
    assert "Đà Nẵng" in page and "Smart JAMP 2027, second round" in page

    # Joining another city brings its proposals; leaving it takes them away.
    make_proposal(call, cebu, cebu_lead, title="Cebu traffic lights", complete=False)
    membership = CityMembership.objects.create(city=cebu, user=danang_lead, role="editor")
    assert "Cebu traffic lights" in text(lead.get(url))
    membership.delete()
    assert "Cebu traffic lights" not in text(lead.get(url))


def test_my_proposals_shows_an_extension_at_once(call, danang, danang_lead, staff):
    make_proposal(call, danang, danang_lead, complete=False)
    lead = signed_in(danang_lead)
    before = text(lead.get(reverse("my_proposals")))
    extend(call, danang, by=staff)
    assert text(lead.get(reverse("my_proposals"))) != before


def test_proposal_checklist_follows_the_draft(call, danang, danang_lead, danang_editor):
    proposal = make_proposal(call, danang, danang_editor, complete=False)
    url = reverse("proposal_detail", args=[proposal.code])
    lead = signed_in(danang_lead)
    page = text(lead.get(url))
    assert "Still missing before the lead can submit:" in page and "a summary" in page
    proposal.summary = "Sensors along the Hàn river warn of floods."
    proposal.save()
    page = text(lead.get(url))
    assert "Still missing" in page and "a summary" not in page
    complete = make_proposal(call, danang, danang_editor, title="Complete")
    page = text(lead.get(reverse("proposal_detail", args=[complete.code])))
    assert "Everything needed is there." in page


def test_my_proposals_order_follows_an_upload(call, danang, danang_lead):
    first = make_proposal(call, danang, danang_lead, title="First draft", complete=False)
    make_proposal(call, danang, danang_lead, title="Second draft", complete=False)
    lead = signed_in(danang_lead)
    page = text(lead.get(reverse("my_proposals")))
    assert page.index("Second draft") < page.index("First draft")  # the last changed first
    services.add_attachment(
        user=danang_lead, proposal=first, kind=AttachmentKind.OTHER, upload=upload("x.pdf")
    )
    page = text(lead.get(reverse("my_proposals")))
    assert page.index("First draft") < page.index("Second draft")


def test_leaving_a_city_hides_its_proposals_at_once(call, danang, danang_lead, danang_editor):
    make_proposal(call, danang, danang_lead, title="Da Nang plan", complete=False)
    editor = signed_in(danang_editor)
    assert "Da Nang plan" in text(editor.get(reverse("my_proposals")))
    assert "Da Nang plan" in text(editor.get(reverse("call_detail", args=[call.code])))
    CityMembership.objects.get(user=danang_editor).delete()
    assert "Da Nang plan" not in text(editor.get(reverse("my_proposals")))
    assert "Da Nang plan" not in text(editor.get(reverse("call_detail", args=[call.code])))


def test_each_reader_of_a_proposal_page_gets_their_own_csrf_token(
    call, danang, danang_lead, danang_editor, assert_page_queries
):
    """Two editors read the same page; each page's forms carry that reader's token, which the
    other's session refuses."""
    proposal = make_proposal(call, danang, danang_lead)
    other = member(danang, "editor2.danang@example.org", "Lê Văn Cường", MemberRole.EDITOR)
    url = reverse("proposal_detail", args=[proposal.code])
    readers = {}
    for user in (danang_editor, other):
        client = Client(enforce_csrf_checks=True)
        client.force_login(user)
        client.get(url)
        with assert_page_queries(PROPOSAL_PAGE_QUERIES):
            page = client.get(url).content.decode()
        tokens = set(re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', page))
        assert tokens  # the sign-out and message forms' (an editor has no submit form)
        readers[user.email] = (client, tokens.pop())
    post = reverse("proposal_message", args=[proposal.code])
    (mine, my_token), (theirs, their_token) = readers.values()
    assert mine.post(post, {"body": "Hi", "csrfmiddlewaretoken": their_token}).status_code == 403
    assert mine.post(post, {"body": "Hi", "csrfmiddlewaretoken": my_token}).status_code == 302
    assert theirs.post(post, {"body": "Yo", "csrfmiddlewaretoken": their_token}).status_code == 302


# The user and the gate (the proposal with its call, city, due date and the reader's role;
# the session is in the cache): the checklist, attachments, messages and history come from
# the cached fragments the first reader's page built.
PROPOSAL_PAGE_QUERIES = 2


def test_proposal_page_fragments_follow_each_change(
    call, danang, danang_lead, danang_editor, staff
):
    """Each part of the cached fragments changes on the next page after what it shows."""
    proposal = make_proposal(call, danang, danang_editor, complete=False)
    url = reverse("proposal_detail", args=[proposal.code])
    lead = signed_in(danang_lead)
    submit = reverse("proposal_submit", args=[proposal.code])
    page = text(lead.get(url))
    # Issue 18: Submit is a link to the confirmation page (which says what stops it), so what
    # the cached page shows of an incomplete draft is its checklist.
    assert "Still missing before the lead can submit" in page and "a summary" in page
    assert f'href="{submit}"' in page

    proposal.summary = "Sensors along the Hàn river warn of floods."
    proposal.save()
    page = text(lead.get(url))
    assert "Sensors along the Hàn river warn of floods." in page and "a summary" not in page
    assert "Still missing before the lead can submit" in page  # the rest is missing still

    message = services.post_message(user=danang_editor, proposal=proposal, body="Site visit?")
    assert "Site visit?" in text(lead.get(url))
    message.delete()
    assert "Site visit?" not in text(lead.get(url))

    attachment = services.add_attachment(
        user=danang_editor, proposal=proposal, kind=AttachmentKind.OTHER, upload=upload("m.pdf")
    )
    assert "m.pdf" in text(lead.get(url))
    attachment.delete()
    assert "m.pdf" not in text(lead.get(url))

    # The thread names a member who wrote in it: renaming them shows at once.
    services.post_message(user=danang_editor, proposal=proposal, body="Map attached.")
    danang_editor.full_name = "Trần Thị Bình Renamed"
    danang_editor.save()
    assert "Trần Thị Bình Renamed" in text(lead.get(url))

    complete = make_proposal(call, danang, danang_lead, title="Complete")
    lead.get(reverse("proposal_detail", args=[complete.code]))
    services.submit_proposal(user=danang_lead, proposal=complete)
    services.screen_proposal(actor=staff, proposal=complete)
    services.request_revision(
        actor=staff,
        proposal=complete,
        message="Add the operating costs.",
        due=call.closes_at + datetime.timedelta(days=20),
    )
    page = text(lead.get(reverse("proposal_detail", args=[complete.code])))
    assert "Add the operating costs." in page and "Resubmit the proposal" in page


def test_staff_internal_history_is_not_shown_to_members(call, danang, danang_lead, staff):
    """Staff read first (their page shows the internal history and names); a member's page,
    built after it, shows neither."""
    proposal = make_proposal(call, danang, danang_lead)
    services.submit_proposal(user=danang_lead, proposal=proposal)
    services.post_message(user=staff, proposal=proposal, body="Please add the budget.")
    url = reverse("proposal_detail", args=[proposal.code])
    programme = signed_in(staff)
    assert "Aiko Tanaka" in text(programme.get(url))
    page = text(signed_in(danang_lead).get(url))
    assert "Aiko Tanaka" not in page and "internal" not in page
    assert "Aiko Tanaka" in text(programme.get(url))  # and staff are not shown the members'


def test_proposal_page_time_left_moves_on_and_is_gone_at_the_due_time(
    call, danang, danang_lead, staff, clock
):
    proposal = make_proposal(call, danang, danang_lead)
    services.submit_proposal(user=danang_lead, proposal=proposal)
    services.screen_proposal(actor=staff, proposal=proposal)
    due = call.closes_at + datetime.timedelta(days=5)
    services.request_revision(actor=staff, proposal=proposal, message="Add a map", due=due)
    url = reverse("proposal_detail", args=[proposal.code])
    clock.set(due - datetime.timedelta(minutes=10))
    lead = signed_in(danang_lead)  # after the clock's jump (sessions lapse after 12 idle hours)
    assert "10 minutes left" in text(lead.get(url))
    clock.set(due - datetime.timedelta(minutes=9))
    assert "9 minutes left" in text(lead.get(url))
    clock.set(due)
    assert "left" not in text(lead.get(url)).split("Resubmit by")[1][:300]


def test_renaming_a_city_shows_on_its_proposals_pages_at_once(call, danang, danang_lead):
    proposal = make_proposal(call, danang, danang_lead)
    lead = signed_in(danang_lead)
    url = reverse("proposal_detail", args=[proposal.code])
    assert danang.name in text(lead.get(url))
    danang.name = "Thành phố Đà Nẵng"
    danang.save()
    assert "Thành phố Đà Nẵng" in text(lead.get(url))


def test_my_proposals_is_not_shared_between_cities(call, danang, cebu, danang_lead, cebu_lead):
    """Each reader is shown their own cities' proposals, whoever's list was cached first."""
    make_proposal(call, danang, danang_lead, title="Da Nang plan", complete=False)
    make_proposal(call, cebu, cebu_lead, title="Cebu plan", complete=False)
    both = member(cebu, "both@example.org", "Lê Minh", MemberRole.EDITOR)
    CityMembership.objects.create(user=both, city=danang, role=MemberRole.EDITOR)
    url = reverse("my_proposals")
    page = text(signed_in(danang_lead).get(url))
    assert "Da Nang plan" in page and "Cebu plan" not in page
    page = text(signed_in(cebu_lead).get(url))
    assert "Cebu plan" in page and "Da Nang plan" not in page
    page = text(signed_in(both).get(url))
    assert "Cebu plan" in page and "Da Nang plan" in page


def test_call_page_facts_follow_each_change(client, call, danang_lead):
    """The cached description, rubric and terms change on the next page, signed in or not."""
    from proposals.models import Country

    url = reverse("call_detail", args=[call.code])
    lead = signed_in(danang_lead)
    for reader in (client, lead):
        reader.get(url)
    call.description = "Now with a site visit in March."
    call.max_request_jpy = 12_345_678
    call.save()
    for reader in (client, lead):
        page = text(reader.get(url))
        assert "Now with a site visit in March." in page and "¥12,345,678" in page
    criterion = RubricCriterion.objects.create(call=call, name="Inclusiveness", weight=1)
    assert "Inclusiveness" in text(client.get(url))
    criterion.delete()
    assert "Inclusiveness" not in text(client.get(url))
    vietnam = Country.objects.get(iso2="VN")
    call.eligible_countries.set([vietnam])
    assert f"Eligible countries</dt><dd>{vietnam.name}</dd>" in text(client.get(url))
    call.eligible_countries.clear()
    assert "Eligible countries</dt><dd>—</dd>" in text(lead.get(url))


def test_call_list_shows_an_extension_and_a_rename_at_once(
    call, danang, danang_lead, cebu_lead, staff, clock
):
    clock.set(call.closes_at + datetime.timedelta(days=1))
    danang_reader, cebu_reader = signed_in(danang_lead), signed_in(cebu_lead)
    assert calls_listed(danang_reader)["closed"] == [call.title]
    extend(call, danang, by=staff)
    assert calls_listed(danang_reader)["open"] == [call.title]
    # Cebu has no extension: its members are not shown Da Nang's list.
    assert calls_listed(cebu_reader)["closed"] == [call.title]
    call.title = "Smart JAMP 2027, second round"
    call.save()
    assert calls_listed(danang_reader)["open"] == ["Smart JAMP 2027, second round"]
    assert calls_listed(Client())["closed"] == ["Smart JAMP 2027, second round"]
