"""Issue 19, item 6: feedback to every city. Staff write an evaluation summary (overall, and
per criterion strengths and weaknesses; no reviewer's name, no score), one a language; the
city reads it on its proposal's page once the proposal is decided, in the reader's language
or else in English, and with the decision's email."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from proposals import services
from proposals.models import AuditEvent, EvaluationSummary, Notification, NotificationKind

from ..conftest import member
from ..factories import make_call, make_proposal, review, under_review

pytestmark = pytest.mark.django_db


@pytest.fixture
def reviewed(call, danang, danang_lead, staff, reviewer):
    proposal = under_review(
        make_proposal(call, danang, danang_lead, title="Flood sensors"),
        lead=danang_lead,
        staff=staff,
    )
    review(proposal, reviewer, [5, 3], staff=staff)
    services.shortlist_proposal(actor=staff, proposal=proposal)
    proposal.refresh_from_db()
    return proposal


def criteria(proposal):
    return list(proposal.call.criteria.order_by("position", "pk"))


def write(staff, proposal, language="en", overall="A clear, well-partnered study.", **extra):
    relevance, feasibility = criteria(proposal)
    feedback = extra.pop(
        "feedback",
        {
            relevance.pk: ("The flooding is measured.", ""),
            feasibility.pk: ("", "The timetable is tight."),
        },
    )
    return services.write_evaluation_summary(
        actor=staff, proposal=proposal, language=language, overall=overall, feedback=feedback
    )


def page_text(client, proposal):
    return client.get(reverse("proposal_detail", args=[proposal.code])).content.decode()


def test_staff_write_it_on_the_proposals_evaluation_page(client, staff, reviewed):
    client.force_login(staff)
    url = reverse("admin:proposals_proposal_evaluation", args=[reviewed.pk])
    page = client.get(url).content.decode()
    assert "What the reviewers wrote" in page and "Solid." in page  # the comment, no name
    assert "Reviewer 1" in page
    relevance, feasibility = criteria(reviewed)
    data = {
        "language": "vi",
        "overall": "Một nghiên cứu rõ ràng.",
        f"strengths_{relevance.pk}": "Lũ được đo lường.",
        f"weaknesses_{relevance.pk}": "",
        f"strengths_{feasibility.pk}": "",
        f"weaknesses_{feasibility.pk}": "Tiến độ gấp.",
    }
    saved = client.post(url, data)
    assert saved.status_code == 302 and saved["Location"] == f"{url}?language=vi"
    summary = EvaluationSummary.objects.get(proposal=reviewed)
    assert (summary.language, summary.overall, summary.written_by) == (
        "vi",
        "Một nghiên cứu rõ ràng.",
        staff,
    )
    assert [(f.criterion, f.strengths, f.weaknesses) for f in summary.criteria.all()] == [
        (relevance, "Lũ được đo lường.", ""),
        (feasibility, "", "Tiến độ gấp."),
    ]
    assert AuditEvent.objects.filter(action="decision.evaluation_summary", actor=staff).exists()
    # Shown again in its language, to change it; a criterion emptied loses its feedback.
    again = client.get(f"{url}?language=vi").content.decode()
    assert "Một nghiên cứu rõ ràng." in again and "Tiến độ gấp." in again
    client.post(url, data | {f"weaknesses_{feasibility.pk}": ""})
    assert summary.criteria.count() == 1
    # No overall assessment: refused, nothing stored.
    refused = client.post(url, data | {"language": "en", "overall": " "})
    assert refused.status_code == 200
    assert not EvaluationSummary.objects.filter(language="en").exists()


def test_the_service_refuses_what_does_not_belong(staff, reviewer, reviewed, call):
    with pytest.raises(ValidationError):
        write(staff, reviewed, overall="   ")
    with pytest.raises(ValidationError):
        write(staff, reviewed, language="xx")
    foreign = make_call("Other").criteria.first()  # a criterion of another call
    with pytest.raises(ValidationError):
        write(staff, reviewed, feedback={foreign.pk: ("Good", "")})
    with pytest.raises(PermissionDenied):
        write(reviewer, reviewed)
    assert not EvaluationSummary.objects.exists()


def test_the_city_reads_it_once_decided_in_its_language_or_in_english(
    client, staff, reviewer, reviewed, danang, danang_lead
):
    write(staff, reviewed, language="en", overall="A clear, well-partnered study.")
    write(staff, reviewed, language="vi", overall="Một nghiên cứu rõ ràng.")
    client.force_login(danang_lead)
    assert "Evaluation summary" not in page_text(client, reviewed)  # not decided yet
    services.approve_proposal(
        actor=staff, proposal=reviewed, amount=30_000_000, letter="We are pleased."
    )
    english = page_text(client, reviewed)
    assert "A clear, well-partnered study." in english
    assert "The flooding is measured." in english and "The timetable is tight." in english
    for secret in (reviewer.full_name, reviewer.email, "Solid.", "4.60"):
        assert secret not in english
    vietnamese = member(danang, "vi.reader@example.org", "Vi Reader", "editor")
    vietnamese.language = "vi"
    vietnamese.save()
    client.force_login(vietnamese)
    assert "Một nghiên cứu rõ ràng." in page_text(client, reviewed)
    japanese = member(danang, "ja.reader@example.org", "Ja Reader", "editor")
    japanese.language = "ja"
    japanese.save()
    client.force_login(japanese)
    assert "A clear, well-partnered study." in page_text(client, reviewed)  # no Japanese one
    # Rewritten after the page was read: the city's (cached) page follows at once.
    write(staff, reviewed, language="en", overall="Rewritten after the panel.")
    assert "Rewritten after the panel." in page_text(client, reviewed)


def test_the_decision_email_carries_it_in_each_readers_language(
    staff, reviewed, danang, django_capture_on_commit_callbacks
):
    reader = member(danang, "vi.reader@example.org", "Vi Reader", "editor")
    reader.language = "vi"
    reader.save()
    write(staff, reviewed, language="en", overall="A clear, well-partnered study.")
    write(staff, reviewed, language="vi", overall="Một nghiên cứu rõ ràng.")
    with django_capture_on_commit_callbacks(execute=True):
        services.reject_proposal(actor=staff, proposal=reviewed, letter="Not this year.")
    emails = {
        n.recipient.email: n
        for n in Notification.objects.filter(kind=NotificationKind.DECISION).select_related(
            "recipient"
        )
    }
    assert "Một nghiên cứu rõ ràng." in emails["vi.reader@example.org"].body_text
    lead = emails["lead.danang@example.org"]
    assert "A clear, well-partnered study." in lead.body_text
    assert (
        "The timetable is tight." in lead.body_text and "The timetable is tight." in lead.body_html
    )
