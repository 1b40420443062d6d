from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import FileResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_fsm import has_transition_perm

from .. import services
from ..forms import (
    AttachmentForm,
    MessageForm,
    PartnerFormSet,
    ProposalForm,
    WithdrawForm,
    partner_rows,
)
from ..models import DeadlineExtension, Proposal
from ..permissions import (
    get_attachment_for_user,
    get_proposal_for_user,
    is_city_lead,
    is_city_member,
)
from ..uploads import report_oversized_uploads


@login_required
def my_proposals(request):
    extension = DeadlineExtension.objects.filter(
        call=OuterRef("call"), city=OuterRef("city")
    ).values("closes_at")[:1]
    proposals = (
        Proposal.objects.filter(city__memberships__user=request.user)
        .select_related("call", "city__country")
        .annotate(deadline=Coalesce(Subquery(extension), F("call__closes_at")))
        .order_by("-updated_at")
    )
    return render(request, "proposals/list.html", {"proposals": proposals, "now": timezone.now()})


def _is_staff_reader(user) -> bool:
    return user.has_perm("proposals.view_proposal")


@login_required
def proposal_detail(request, code):
    proposal = get_proposal_for_user(request.user, code)
    member = is_city_member(request.user, proposal.city)
    staff = _is_staff_reader(request.user)
    changes = proposal.status_changes.select_related("actor")
    if not staff:
        changes = changes.filter(is_public=True)
    editable = member and proposal.is_editable
    return render(
        request,
        "proposals/detail.html",
        {
            "proposal": proposal,
            "changes": changes,
            "thread": proposal.messages.select_related("author"),
            "attachments": proposal.attachments.all(),
            "partners": proposal.partners.all(),
            "deadline": proposal.call.deadline_for(proposal.city),
            "missing": proposal.missing_for_submission() if editable else [],
            "can_edit": editable,
            "can_submit": editable and is_city_lead(request.user, proposal.city),
            "can_withdraw": has_transition_perm(proposal.withdraw, request.user),
            "show_names": staff,
            "message_form": MessageForm(),
        },
    )


def _describe_conflict(current: Proposal, form: ProposalForm, partners) -> list[tuple[str, str]]:
    """The fields whose stored value differs from what the official posted: (label, stored)."""
    differences = []
    for name, value in form.cleaned_data.items():
        if name == "base_version":
            continue
        field = form.fields[name]
        stored = getattr(current, name)
        if name in ("focus_areas", "sectors"):
            stored_set, posted_set = set(stored.all()), set(value)
            if stored_set != posted_set:
                shown = ", ".join(str(item) for item in stored.all()) or "—"
                differences.append((field.label, shown))
            continue
        if name == "instruments":
            if sorted(stored) != sorted(value):
                labels = dict(field.choices)
                differences.append((field.label, ", ".join(labels[i] for i in stored) or "—"))
            continue
        if (stored or None) != (value or None):
            differences.append((field.label, "—" if stored in (None, "") else str(stored)))
    stored_partners = list(current.partners.values("name", "kind", "role"))
    if stored_partners != partner_rows(partners):
        shown = "; ".join(p["name"] for p in stored_partners) or "—"
        differences.append((_("Japanese partners"), shown))
    return differences


def _saved_message(proposal: Proposal) -> str:
    when = formats.time_format(timezone.localtime(proposal.updated_at), "H:i")
    return _("Draft saved at %(time)s.") % {"time": when}


@login_required
def proposal_edit(request, code):
    proposal = get_proposal_for_user(request.user, code, write=True)
    autosave = request.headers.get("X-Requested-With") == "fetch"
    if not proposal.is_editable:
        if autosave:
            return JsonResponse(
                {"message": _("This proposal can no longer be edited.")}, status=409
            )
        messages.info(request, _("This proposal has been submitted and can no longer be edited."))
        return redirect("proposal_detail", code=proposal.code)
    conflict = None
    if request.method == "POST":
        form = ProposalForm(request.POST, instance=proposal, call=proposal.call)
        partners = PartnerFormSet(request.POST, prefix="partners")
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
                current = exc.proposal
                conflict = {
                    "by": current.updated_by,
                    "at": current.updated_at,
                    "fields": _describe_conflict(current, form, partners),
                }
                if autosave:
                    return JsonResponse(
                        {
                            "message": _(
                                "Not saved: a colleague saved this draft meanwhile. Reload the "
                                "page to see their changes."
                            ),
                            "conflict": True,
                        },
                        status=409,
                    )
                # Keep what the official typed; saving again now is a deliberate choice.
                data = request.POST.copy()
                data["base_version"] = current.version
                form = ProposalForm(data, instance=current, call=current.call)
                form.is_valid()
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
    return render(
        request,
        "proposals/edit.html",
        {
            "proposal": proposal,
            "form": form,
            "partners": partners,
            "conflict": conflict,
            "attachments": proposal.attachments.all(),
            "attachment_form": AttachmentForm(),
            "missing": proposal.missing_for_submission(),
            "deadline": proposal.call.deadline_for(proposal.city),
        },
    )


@login_required
@require_POST
def attachment_upload(request, code):
    proposal = get_proposal_for_user(request.user, code, write=True)
    form = AttachmentForm(request.POST, request.FILES)
    valid = form.is_valid()
    report_oversized_uploads(request, form)
    if valid and not form.errors:
        try:
            attachment = services.add_attachment(
                user=request.user,
                proposal=proposal,
                kind=form.cleaned_data["kind"],
                upload=form.cleaned_data["file"],
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("%(name)s is attached.") % {"name": attachment.name})
    else:
        for errors in form.errors.values():
            messages.error(request, " ".join(errors))
    return redirect(reverse("proposal_edit", args=[proposal.code]) + "#attachments")


@login_required
def attachment_download(request, code, attachment_code):
    attachment = get_attachment_for_user(request.user, code, attachment_code)
    return FileResponse(
        attachment.file.open("rb"),
        as_attachment=True,
        filename=attachment.name,
        content_type=attachment.content_type,
    )


@login_required
@require_POST
def attachment_delete(request, code, attachment_code):
    get_proposal_for_user(request.user, code, write=True)
    attachment = get_attachment_for_user(request.user, code, attachment_code)
    try:
        services.delete_attachment(user=request.user, attachment=attachment)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("%(name)s was removed.") % {"name": attachment.name})
    return redirect(reverse("proposal_edit", args=[code]) + "#attachments")


@login_required
@require_POST
def proposal_submit(request, code):
    proposal = get_proposal_for_user(request.user, code, write=True)
    if not is_city_lead(request.user, proposal.city):
        raise PermissionDenied
    try:
        services.submit_proposal(user=request.user, proposal=proposal)
    except services.AlreadySubmitted:
        messages.info(request, _("This proposal was submitted already."))
    except ValidationError as exc:
        for reason in exc.messages:
            messages.error(request, reason)
        return redirect("proposal_detail", code=proposal.code)
    else:
        messages.success(request, _("Your proposal has been submitted."))
    return redirect("proposal_receipt", code=proposal.code)


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
    if request.method == "POST" and form.is_valid():
        try:
            services.withdraw_proposal(
                user=request.user, proposal=proposal, reason=form.cleaned_data["reason"]
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("The proposal has been withdrawn."))
        return redirect("proposal_detail", code=proposal.code)
    return render(request, "proposals/withdraw.html", {"proposal": proposal, "form": form})


@login_required
@require_POST
def message_post(request, code):
    proposal = get_proposal_for_user(request.user, code)
    form = MessageForm(request.POST)
    if form.is_valid():
        try:
            services.post_message(
                user=request.user, proposal=proposal, body=form.cleaned_data["body"]
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Your message has been sent."))
    else:
        messages.error(request, _("Write a message of at most 5,000 characters."))
    return redirect(reverse("proposal_detail", args=[proposal.code]) + "#messages")
