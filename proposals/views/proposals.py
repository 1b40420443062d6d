from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_fsm import can_proceed, has_transition_perm

from smartjamp import cache_versions
from smartjamp.security import take_kept_post
from smartjamp.uploads import file_download, report_oversized_uploads

from .. import services
from ..forms import (
    AttachmentForm,
    CopyProposalForm,
    MessageForm,
    PartnerFormSet,
    ProposalForm,
    WithdrawForm,
    partner_rows,
)
from ..models import Call, CityMembership, Proposal, Status
from ..models.proposal import SECTIONS
from ..permissions import (
    get_attachment_for_user,
    get_proposal_for_user,
    is_programme_staff,
)
from . import refusal_shown


@login_required
def my_proposals(request):
    # The reader's cities, read per request; the list of their proposals is the same for
    # everyone who is a member of exactly these cities: a cached fragment keyed by the cities
    # and their numbers (proposals/list.html), the queryset built and evaluated only when the
    # fragment is (building it alone, annotations resolved, is a sixth of the page).
    cities = sorted(
        CityMembership.objects.filter(user=request.user).values_list("city_id", flat=True)
    )
    return render(
        request,
        "proposals/list.html",
        {
            "cities": cities,
            "versions": cache_versions.current(
                cache_versions.CALLS, *(cache_versions.city_proposals(pk) for pk in cities)
            ),
            "proposals": SimpleLazyObject(lambda: _city_proposals(cities)),
        },
    )


def _city_proposals(cities):
    proposals = (
        Proposal.objects.filter(city__in=cities)
        .select_related("call", "city")
        # Only what the list shows: the texts of a proposal are long, and each column costs
        # the ORM time on every row.
        .only(
            "code",
            "title",
            "reference_code",
            "status",
            "updated_at",
            "ready_at",
            "call__code",
            "call__title",
            "city__name",
            "city__time_zone",
        )
        .with_due_at()
        .order_by("-updated_at")
    )
    return proposals


@login_required
def proposal_detail(request, code):
    user = request.user
    proposal = get_proposal_for_user(user, code, with_due_at=True)
    staff = is_programme_staff(user)
    lead = proposal.reader_is_lead
    editable = proposal.reader_is_member and proposal.is_editable
    now = timezone.now()

    def changes():
        # Only the columns the page shows: each column costs the ORM time on every row (and
        # the proposal's own key, which the related manager checks on every row).
        changes = proposal.status_changes.select_related("actor").only(
            "proposal",
            "created_at",
            "to_status",
            "message",
            "is_public",
            "actor__full_name",
            "actor__email",
        )
        return changes if staff else changes.filter(is_public=True)

    context = {
        "proposal": proposal,
        "now": now,
        "due_at": proposal.due_at,
        # The revision request's message, the checklist, the summary, attachments, thread and
        # history are one cached fragment for the city's members (proposals/_detail_content
        # .html), built only when the proposal's number has moved; staff, who see names and
        # the internal history, get it built per request. What it shows is read lazily, in
        # the template, so that a cached fragment runs no query (and builds no queryset: that
        # alone, select_related and only() resolved, costs about 0.1 ms each).
        "versions": cache_versions.current(cache_versions.proposal(proposal.pk)),
        "missing": SimpleLazyObject(lambda: checklist(proposal)) if editable else [],
        # Shown only while a revision is requested.
        "revision_message": SimpleLazyObject(lambda: revision_request(proposal)),
        "show_names": staff,
        "changes": SimpleLazyObject(changes),
        "thread": SimpleLazyObject(
            lambda: proposal.messages.select_related("author").only(
                "proposal", "from_staff", "body", "created_at", "author__full_name", "author__email"
            )
        ),
        "attachments": SimpleLazyObject(
            lambda: proposal.attachments.only("proposal", "code", "name", "kind", "size")
        ),
        "can_edit": editable,
        "can_submit": editable and lead,
        # The state check is the declared transition's; who may take it is the lead.
        "can_withdraw": lead and can_proceed(proposal.withdraw),
        # An editor's word to the leads that the draft is ready (cleared by an edit).
        "can_mark_ready": editable and not lead and proposal.ready_at is None,
        "ready_by": proposal.ready_by if proposal.ready_at and proposal.is_editable else None,
        "message_form": MessageForm(),
    }
    return render(request, "proposals/detail.html", context)


def _describe_conflict(current: Proposal, form: ProposalForm, names: list[str]) -> list:
    """(label, what is stored now) for each field changed differently by a colleague."""
    described = []
    for name in names:
        if name == "partners":
            stored = "; ".join(p.name for p in current.partners.all()) or "—"
            described.append((_("Japanese partners"), stored))
            continue
        field = form.fields[name]
        value = getattr(current, name)
        if name in ("focus_areas", "sectors"):
            stored = ", ".join(str(item) for item in value.all())
        elif name == "instruments":
            labels = dict(field.choices)
            stored = ", ".join(str(labels.get(item, item)) for item in value)
        else:
            stored = "" if value is None else str(value)
        described.append((field.label, stored or "—"))
    return described


def section_anchor(index: int) -> str:
    """The id of the edit page's section `index` (of ProposalForm.SECTIONS)."""
    return f"section-{index}"


def checklist(proposal: Proposal) -> list[tuple[str, str, str]]:
    """What still stops submission as (anchor on the edit page, section, what is missing):
    each item of the checklist links to the section where it is filled in."""
    anchors = {str(title): section_anchor(i) for i, (title, _names) in enumerate(SECTIONS)}
    anchors[str(_("Attachments"))] = "attachments"
    anchors[str(_("Declaration"))] = "section-declaration"
    return [
        (anchors.get(str(section), ""), section, what)
        for section, what in proposal.missing_for_submission()
    ]


def revision_request(proposal: Proposal) -> str | None:
    """The message of the revision programme staff asked for (None unless one is asked)."""
    if proposal.status != Status.REVISION_REQUESTED:
        return None
    return (
        proposal.status_changes.filter(to_status=Status.REVISION_REQUESTED, is_public=True)
        .values_list("message", flat=True)
        .last()
    )


def _optional_rows(partners):
    """The empty row left for a new partner is optional: once validated (or never bound), its
    fields are not marked required (crispy draws an asterisk for a required field)."""
    for row in partners.forms:
        if row.empty_permitted and (not partners.is_bound or not row.has_changed()):
            for field in row.fields.values():
                field.required = False
    return partners


def _saved_message(proposal: Proposal) -> str:
    when = formats.time_format(timezone.localtime(proposal.updated_at), "H:i")
    return _("Draft saved at %(time)s.") % {"time": when}


@login_required
def proposal_edit(request, code):
    proposal = get_proposal_for_user(request.user, code, write=True, with_due_at=True)
    due_at = proposal.due_at  # editing does not move it (a conflict below reads `current`)
    autosave = request.headers.get("X-Requested-With") == "fetch"
    if not proposal.is_editable:
        if autosave:
            return JsonResponse(
                {"message": _("This proposal can no longer be edited.")}, status=409
            )
        messages.info(request, _("This proposal has been submitted and can no longer be edited."))
        return redirect("proposal_detail", code=proposal.code)
    conflict = None
    # What the official posted just before their session lapsed comes back once they have
    # signed in again, and is saved like any post (the stale-copy check included).
    data = request.POST if request.method == "POST" else take_kept_post(request)
    if data is not None:
        form = ProposalForm(data, instance=proposal, call=proposal.call)
        partners = PartnerFormSet(data, prefix="partners")
        if form.is_valid() and partners.is_valid():
            values = {
                name: value
                for name, value in form.cleaned_data.items()
                if name not in ("base_version", "focus_areas", "sectors")
            }
            try:
                saved = services.save_draft(
                    user=request.user,
                    proposal=proposal,
                    base_version=form.cleaned_data["base_version"],
                    values=values,
                    focus_areas=form.cleaned_data["focus_areas"],
                    sectors=form.cleaned_data["sectors"],
                    partners=partner_rows(partners),
                )
            except services.StaleProposal as exc:
                if autosave:
                    return JsonResponse(
                        {
                            "message": _(
                                "Not saved: a colleague changed the same part meanwhile. Press "
                                "“Save draft” to see both versions."
                            ),
                            "conflict": True,
                        },
                        status=409,
                    )
                current = exc.proposal
                conflict = {
                    "by": current.updated_by,
                    "at": current.updated_at,
                    "fields": _describe_conflict(current, form, exc.conflicts),
                }
                # Show the stored draft, with this official's text in the conflicting fields;
                # saving again is then a deliberate choice, and nothing else is overwritten.
                mine = {
                    name: form.cleaned_data[name] for name in exc.conflicts if name in form.fields
                }
                form = ProposalForm(
                    instance=current,
                    call=current.call,
                    initial={**mine, "base_version": current.version},
                )
                partner_initial = (
                    partner_rows(partners)
                    if "partners" in exc.conflicts
                    else list(current.partners.values("name", "kind", "role"))
                )
                partners = PartnerFormSet(prefix="partners", initial=partner_initial)
                proposal = current
            except ValidationError as exc:
                if autosave:
                    return JsonResponse({"message": " ".join(exc.messages)}, status=409)
                messages.error(request, " ".join(exc.messages))
                return redirect("proposal_detail", code=proposal.code)
            else:
                if autosave:
                    return JsonResponse(
                        {"version": saved.version, "message": _saved_message(saved)}
                    )
                messages.success(request, _saved_message(saved))
                return redirect("proposal_edit", code=proposal.code)
        elif autosave:
            return JsonResponse(
                {
                    "message": _("Not saved: please correct the fields marked in red."),
                    "errors": {**form.errors, "partners": partners.errors},
                },
                status=400,
            )
    else:
        form = ProposalForm(instance=proposal, call=proposal.call)
        partners = PartnerFormSet(
            prefix="partners", initial=list(proposal.partners.values("name", "kind", "role"))
        )
    missing = checklist(proposal)
    return render(
        request,
        "proposals/edit.html",
        {
            "proposal": proposal,
            "form": form,
            "partners": _optional_rows(partners),
            "conflict": conflict,
            "attachments": proposal.attachments.all(),
            "attachment_form": AttachmentForm(),
            "missing": missing,
            "sections": _sections(form, missing),
            "revision_message": revision_request(proposal),
            "on_edit_page": True,
            "due_at": due_at,
            "now": timezone.now(),
            # The earlier proposal it was started from, whose evaluation is shown beside it.
            "earlier": proposal.copied_from if proposal.copied_from_id else None,
        },
    )


def _sections(form: ProposalForm, missing) -> list[dict]:
    """The form's sections as the edit page shows them: each collapsible, open when it is the
    first, holds an error, or is where something is still missing (so that a link of the
    checklist lands on an open section even without JavaScript)."""
    to_complete = {anchor for anchor, _section, _what in missing}
    sections = []
    for index, (title, names) in enumerate(form.SECTIONS):
        anchor = section_anchor(index)
        errors = any(form[name].errors for name in names)
        sections.append(
            {
                "anchor": anchor,
                "title": title,
                "fields": [form[name] for name in names],
                "errors": errors,
                "to_complete": anchor in to_complete,
                "open": index == 0 or errors or anchor in to_complete,
            }
        )
    return sections


@login_required
@require_POST
def attachment_upload(request, code):
    proposal = get_proposal_for_user(request.user, code, write=True)
    form = AttachmentForm(request.POST, request.FILES)
    valid = form.is_valid()
    report_oversized_uploads(request, form)
    if valid and not form.errors:
        with refusal_shown(request):
            attachment = services.add_attachment(
                user=request.user,
                proposal=proposal,
                kind=form.cleaned_data["kind"],
                upload=form.cleaned_data["file"],
            )
            messages.success(request, _("%(name)s is attached.") % {"name": attachment.name})
    else:
        for errors in form.errors.values():
            messages.error(request, " ".join(errors))
    return redirect(reverse("proposal_edit", args=[proposal.code]) + "#attachments")


@login_required
def attachment_download(request, code, attachment_code):
    attachment = get_attachment_for_user(request.user, code, attachment_code)
    services.audit_download(request, attachment)
    return file_download(attachment.file, attachment.name, attachment.content_type)


def _confirmed(request) -> bool:
    """Whether a POST carries the confirmation page's own button (`confirm`). A final form
    posted without it (an old page, a script, a double path) does nothing and gets the
    confirmation page, with a word on why."""
    if request.method != "POST":
        return False
    if request.POST.get("confirm") == "yes":
        return True
    messages.warning(request, _("Nothing was done yet: please confirm below."))
    return False


@login_required
def attachment_delete(request, code, attachment_code):
    """GET: asks whether to remove the file; POST with `confirm`: removes it."""
    attachment = get_attachment_for_user(request.user, code, attachment_code, write=True)
    if _confirmed(request):
        with refusal_shown(request):
            services.delete_attachment(user=request.user, attachment=attachment)
            messages.success(request, _("%(name)s was removed.") % {"name": attachment.name})
        return redirect(reverse("proposal_edit", args=[code]) + "#attachments")
    return render(
        request,
        "proposals/attachment_delete.html",
        {"proposal": attachment.proposal, "attachment": attachment},
    )


@login_required
def proposal_submit(request, code):
    """GET: what will be sent, and what still stops it; POST with `confirm`: submit."""
    proposal = get_proposal_for_user(request.user, code, write=True, with_due_at=True)
    if not proposal.reader_is_lead:
        raise PermissionDenied
    if not proposal.is_editable:
        messages.info(request, _("This proposal was submitted already."))
        # A second click of "Yes, submit it" lands where the first did: on the receipt.
        again = request.method == "POST" and proposal.reference_code is not None
        return redirect("proposal_receipt" if again else "proposal_detail", code=proposal.code)
    if _confirmed(request):
        try:
            services.submit_proposal(user=request.user, proposal=proposal)
        except services.AlreadySubmitted:
            messages.info(request, _("This proposal was submitted already."))
        except ValidationError as exc:
            for reason in exc.messages:
                messages.error(request, reason)
            return redirect("proposal_submit", code=proposal.code)
        else:
            messages.success(request, _("Your proposal has been submitted."))
        return redirect("proposal_receipt", code=proposal.code)
    return render(
        request,
        "proposals/submit.html",
        {
            "proposal": proposal,
            "refusals": services.submission_refusals(proposal),
            "partners": proposal.partners.all(),
            "attachments": proposal.attachments.all(),
            "focus_areas": proposal.focus_areas.all(),
            "sectors": proposal.sectors.all(),
            "due_at": proposal.due_at,
            "now": timezone.now(),
        },
    )


@login_required
@require_POST
def proposal_ready(request, code):
    """An editor tells the leads the draft is ready for them."""
    proposal = get_proposal_for_user(request.user, code, write=True)
    try:
        services.mark_ready_for_lead(user=request.user, proposal=proposal)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The city's leads have been told that the draft is ready."))
    return redirect("proposal_detail", code=proposal.code)


@login_required
def proposal_receipt(request, code):
    proposal = get_proposal_for_user(request.user, code)
    if proposal.reference_code is None:
        return redirect("proposal_detail", code=proposal.code)
    return render(request, "proposals/receipt.html", {"proposal": proposal})


@login_required
def proposal_print(request, code):
    proposal = get_proposal_for_user(request.user, code)
    return render(
        request,
        "proposals/print.html",
        {
            "proposal": proposal,
            "partners": proposal.partners.all(),
            "attachments": proposal.attachments.all(),
            "focus_areas": proposal.focus_areas.all(),
            "sectors": proposal.sectors.all(),
        },
    )


@login_required
def proposal_withdraw(request, code):
    proposal = get_proposal_for_user(request.user, code, write=True)
    if not has_transition_perm(proposal.withdraw, request.user):
        raise PermissionDenied
    form = WithdrawForm(request.POST or None)
    if _confirmed(request) and form.is_valid():
        with refusal_shown(request):
            services.withdraw_proposal(
                user=request.user, proposal=proposal, reason=form.cleaned_data["reason"]
            )
            messages.success(request, _("The proposal has been withdrawn."))
        return redirect("proposal_detail", code=proposal.code)
    return render(request, "proposals/withdraw.html", {"proposal": proposal, "form": form})


@login_required
@require_POST
def message_post(request, code):
    proposal = get_proposal_for_user(request.user, code)
    form = MessageForm(request.POST)
    if form.is_valid():
        with refusal_shown(request):
            services.post_message(
                user=request.user, proposal=proposal, body=form.cleaned_data["body"]
            )
            messages.success(request, _("Your message has been sent."))
    else:
        messages.error(request, _("Write a message of at most 5,000 characters."))
    return redirect(reverse("proposal_detail", args=[proposal.code]) + "#messages")


@login_required
def proposal_copy(request, code):
    """A member starts a draft in an open call from this earlier proposal of their city (any
    status): GET asks in which call and whether to copy its files, POST starts it."""
    source = get_proposal_for_user(request.user, code)
    if not source.reader_is_member:
        raise PermissionDenied
    calls = Call.objects.published().open_at(timezone.now()).order_by("closes_at", "pk")
    form = CopyProposalForm(request.POST or None, calls=calls)
    if request.method == "POST" and form.is_valid():
        try:
            proposal = services.copy_proposal(
                user=request.user,
                source=source,
                call=form.cleaned_data["call"],
                with_attachments=form.cleaned_data["with_attachments"],
            )
        except ValidationError as exc:
            for reason in exc.messages:
                messages.error(request, reason)
        else:
            messages.success(
                request,
                _("Your new draft is ready, started from “%(title)s”.") % {"title": source.title},
            )
            return redirect("proposal_edit", code=proposal.code)
    return render(request, "proposals/copy.html", {"proposal": source, "form": form})
