import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from proposals.models import City, VerificationStatus

from ..factories import make_city

pytestmark = pytest.mark.django_db


@pytest.fixture
def hue(reference_data):
    return make_city("Huế", "VN")


def test_staff_verify_cities_from_the_change_list(client, staff, hue):
    client.force_login(staff)
    response = client.post(
        reverse("admin:proposals_city_changelist"),
        {"action": "verify_selected", ACTION_CHECKBOX_NAME: [hue.pk]},
        follow=True,
    )
    assert "1 city verified." in response.content.decode()
    hue.refresh_from_db()
    assert (hue.verification_status, hue.decided_by) == (VerificationStatus.VERIFIED, staff)
    assert LogEntry.objects.get(object_id=str(hue.pk)).get_change_message() == "Verified"


def test_staff_reject_needs_a_reason(client, staff, hue):
    client.force_login(staff)
    url = reverse("admin:proposals_city_changelist")
    form_page = client.post(url, {"action": "reject_selected", ACTION_CHECKBOX_NAME: [hue.pk]})
    assert form_page.status_code == 200
    assert "Reason for rejection" in form_page.content.decode()

    empty = client.post(
        url,
        {"action": "reject_selected", ACTION_CHECKBOX_NAME: [hue.pk], "apply": "1", "reason": ""},
    )
    assert empty.context["form"].errors == {"reason": ["This field is required."]}
    hue.refresh_from_db()
    assert hue.verification_status == VerificationStatus.PENDING

    client.post(
        url,
        {
            "action": "reject_selected",
            ACTION_CHECKBOX_NAME: [hue.pk],
            "apply": "1",
            "reason": "The letter is not signed by the mayor.",
        },
    )
    hue.refresh_from_db()
    assert (hue.verification_status, hue.rejection_reason) == (
        VerificationStatus.REJECTED,
        "The letter is not signed by the mayor.",
    )


def test_rejection_reason_is_shown_to_members(client, staff, hue, official):
    from proposals import services
    from proposals.models import CityMembership

    CityMembership.objects.create(city=hue, user=official, role="lead")
    services.reject_city(actor=staff, city=hue, reason="Letter unsigned.")
    client.force_login(official)
    page = client.get(reverse("city_detail", args=[hue.code])).content.decode()
    assert "Registration rejected" in page and "Letter unsigned." in page


def test_admin_city_list_filters_and_queries(client, staff, hue, django_assert_max_num_queries):
    client.force_login(staff)
    url = reverse("admin:proposals_city_changelist")

    def names(query):
        response = client.get(url, query)
        return list(response.context["cl"].result_list.values_list("name", flat=True))

    pending_in_viet_nam = {"verification_status__exact": "pending", "country__iso2__exact": "VN"}
    # Issue 18: by default only applications (cities officials registered or joined), not the
    # reference cities nobody applied for ...
    applications = [
        n
        for n in City.objects.claimed()
        .filter(country="VN", verification_status="pending")
        .order_by("name")
        .values_list("name", flat=True)
    ]
    assert applications == [hue.name]
    assert names(pending_in_viet_nam) == applications
    # ... and "all" gives every city the other filters keep, reference cities too.
    everything = [
        n
        for n in City.objects.filter(country="VN", verification_status="pending")
        .order_by("name")
        .values_list("name", flat=True)
    ]
    assert len(everything) > 1 and hue.name in everything
    assert names({**pending_in_viet_nam, "registration": "all"}) == everything
    with django_assert_max_num_queries(12):
        client.get(url)
    with django_assert_max_num_queries(12):
        client.get(url, {"registration": "all"})


def test_admin_city_page_links_the_letter_through_the_gate(client, staff, hue):
    client.force_login(staff)
    page = client.get(reverse("admin:proposals_city_change", args=[hue.pk])).content.decode()
    assert reverse("city_letter", args=[hue.code]) in page
    assert client.get(reverse("city_letter", args=[hue.code])).status_code == 200


def test_admin_is_closed_to_officials(client, danang_lead):
    client.force_login(danang_lead)
    response = client.get(reverse("admin:proposals_city_changelist"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_staff_approve_join_request_in_admin(client, staff, danang, danang_lead, official):
    from proposals.models import CityMembership, JoinRequest

    join_request = JoinRequest.objects.create(city=danang, user=official)
    client.force_login(staff)
    client.post(
        reverse("admin:proposals_joinrequest_changelist"),
        {"action": "approve_selected", ACTION_CHECKBOX_NAME: [join_request.pk]},
    )
    assert CityMembership.objects.get(city=danang, user=official).role == "editor"


def test_staff_cannot_grant_themselves_admin_powers(client, staff):
    client.force_login(staff)
    url = reverse("admin:proposals_user_change", args=[staff.pk])
    form = client.get(url).context["adminform"].form
    assert {"is_superuser", "is_staff", "groups", "user_permissions"}.isdisjoint(form.fields)
    client.post(
        url,
        {
            "email": staff.email,
            "full_name": "x",
            "language": "en",
            "time_zone": "UTC",
            "is_superuser": "on",
            "is_active": "on",
        },
    )
    staff.refresh_from_db()
    assert staff.is_superuser is False


def test_staff_cannot_change_another_admin_account(client, staff, reviewer):
    from proposals.models import User

    root = User.objects.create_superuser("root@example.org", "a long root passphrase")
    client.force_login(staff)
    for target in (root, reviewer):
        assert (
            client.get(reverse("admin:auth_user_password_change", args=[target.pk])).status_code
            == 403
        )
        response = client.post(
            reverse("admin:proposals_user_change", args=[target.pk]),
            {"email": "taken-over@example.org", "language": "en", "time_zone": "UTC"},
        )
        assert response.status_code == 403
        target.refresh_from_db()
        assert target.email != "taken-over@example.org"


def test_admin_members_inline_is_read_only(client, staff, danang, danang_lead):
    client.force_login(staff)
    formset = client.get(reverse("admin:proposals_city_change", args=[danang.pk])).context[
        "inline_admin_formsets"
    ][0]
    assert formset.has_add_permission is False
    assert formset.formset.can_delete is False
    assert list(formset.formset.forms[0].fields) in ([], ["id", "city"])


def test_admin_rename_to_an_existing_city_is_refused(client, staff, hue, danang):
    client.force_login(staff)
    response = client.post(
        reverse("admin:proposals_city_change", args=[hue.pk]),
        {
            "name": "Đà Nẵng",
            "kind": "city",
            "country": "VN",
            "time_zone": "Asia/Ho_Chi_Minh",
            "ascn_status": "",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == [
        "Da Nang is already a city of Viet Nam under that name."
    ]


def test_verify_actions_need_the_verify_permission(client, hue):
    from django.contrib.auth.models import Permission

    from ..factories import UserFactory

    editor = UserFactory(email="data.clerk@example.org", is_staff=True)
    editor.user_permissions.set(
        Permission.objects.filter(codename__in=["view_city", "change_city", "delete_city"])
    )
    client.force_login(editor)
    response = client.get(reverse("admin:proposals_city_changelist"))
    actions = [choice[0] for choice in response.context["action_form"].fields["action"].choices]
    assert actions == ["", "delete_selected"]


def test_deleting_a_city_deletes_its_letter(
    staff, hue, private_files, django_capture_on_commit_callbacks
):
    assert private_files() == [hue.authorisation_letter.name]
    with django_capture_on_commit_callbacks(execute=True):
        hue.delete()
    assert private_files() == []


def test_staff_grant_an_extension_in_the_call_admin(client, staff, call, danang):
    from proposals.models import DeadlineExtension

    client.force_login(staff)
    url = reverse("admin:proposals_call_change", args=[call.pk])
    form = client.get(url).context["adminform"].form
    data = {
        name: form.initial.get(name) or ""
        for name in (
            "title",
            "stage",
            "description",
            "reminder_days",
            "max_request_jpy",
            "envelope_jpy",
            "max_proposals_per_city",
            "score_aggregation",
        )
    }
    data.update(
        {
            # One field each, as the browser's date and time picker sends it.
            "opens_at": call.opens_at.strftime("%Y-%m-%dT%H:%M:%S"),
            "closes_at": call.closes_at.strftime("%Y-%m-%dT%H:%M:%S"),
            "eligible_countries": ["VN", "PH"],
            "is_published": "on",
            "reminder_days": "[14, 7, 1]",
            "criteria-TOTAL_FORMS": "0",
            "criteria-INITIAL_FORMS": "0",
            "extensions-TOTAL_FORMS": "1",
            "extensions-INITIAL_FORMS": "0",
            "extensions-0-city": danang.pk,
            "extensions-0-closes_at": "2031-01-15T09:00",
            "extensions-0-reason": "Typhoon closed the city hall for a week.",
        }
    )
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    extension = DeadlineExtension.objects.get(call=call)
    assert (extension.city, extension.granted_by, extension.reason) == (
        danang,
        staff,
        "Typhoon closed the city hall for a week.",
    )
    messages = [e.get_change_message() for e in LogEntry.objects.filter(object_id=str(call.pk))]
    assert any(m.startswith("Extension for Da Nang (VN) until 2031-01-15") for m in messages)


def test_admin_pages_have_no_model_sidebar_but_the_index_lists_the_models(client, staff):
    client.force_login(staff)
    index = client.get(reverse("admin:index")).content.decode()
    assert reverse("admin:proposals_proposal_changelist") in index
    listing = client.get(reverse("admin:proposals_proposal_changelist"))
    assert listing.status_code == 200
    assert 'id="nav-sidebar"' not in listing.content.decode()
    assert listing.context["available_apps"] == []
