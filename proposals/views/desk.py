"""The consultation desk's pages: the reader's requests (all of them for staff), a new request,
a request's thread, and its files through the gate."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from smartjamp.uploads import report_oversized_uploads

from .. import services
from ..models import DeskFile, DeskState, DeskTopic
from ..permissions import (
    desk_cities,
    desk_requests_visible_to,
    get_desk_file_for_user,
    get_desk_request_for_user,
    is_consultant,
    is_desk_staff,
    may_answer_desk,
    may_ask_desk,
    projects_visible_to,
)
from ..services.desk import MAX_DESK_FILES, age_in_working_days, is_overdue, overdue
from . import audited_download, refusal_shown

PER_PAGE = 50
FILES_HELP = gettext_lazy("Optional: up to %(count)d files, each a PDF, DOCX or XLSX document.")


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one field (Django's documented way): a list of uploads, maybe empty."""

    widget = MultipleFileInput

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, (list, tuple)):
            return [single(item, initial) for item in data if item]
        return [single(data, initial)] if data else []


def files_field() -> MultipleFileField:
    return MultipleFileField(
        label=gettext_lazy("Files"),
        required=False,
        help_text=FILES_HELP % {"count": MAX_DESK_FILES},
        widget=MultipleFileInput(attrs={"accept": ".pdf,.docx,.xlsx"}),
    )


class ProjectChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, project):
        city = project.proposal.city
        return f"{project.proposal.title} ({city.name}, {city.country})"


class DeskRequestForm(forms.Form):
    topic = forms.ChoiceField(label=gettext_lazy("Topic"), choices=DeskTopic.choices)
    subject = forms.CharField(
        label=gettext_lazy("Subject"),
        max_length=200,
        error_messages={"required": gettext_lazy("Give the request a subject.")},
    )
    body = forms.CharField(
        label=gettext_lazy("Your question"),
        max_length=10000,
        widget=forms.Textarea(attrs={"rows": 8}),
        error_messages={"required": gettext_lazy("Write your question.")},
    )
    city = forms.ModelChoiceField(
        label=gettext_lazy("For the city"),
        queryset=None,
        to_field_name="code",
        required=False,
        empty_label=gettext_lazy("Not for a city"),
    )
    project = ProjectChoiceField(
        label=gettext_lazy("About the project (optional)"),
        queryset=None,
        to_field_name="code",
        required=False,
        empty_label=gettext_lazy("No project"),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["files"] = files_field()
        cities = desk_cities(user).select_related("country")
        if not cities.exists():
            del self.fields["city"]
        else:
            self.fields["city"].queryset = cities
            # Asking only as a city's member, one asks for that city.
            if not (user.company or is_consultant(user)):
                self.fields["city"].required = True
                self.fields["city"].empty_label = None
                self.fields["city"].error_messages["required"] = _(
                    "Choose the city you are asking for."
                )
        projects = projects_visible_to(user).order_by("-created_at", "-pk")
        if not projects.exists():
            del self.fields["project"]
        else:
            self.fields["project"].queryset = projects


class DeskReplyForm(forms.Form):
    body = forms.CharField(
        label=gettext_lazy("Your message"),
        max_length=10000,
        widget=forms.Textarea(attrs={"rows": 5}),
        error_messages={"required": gettext_lazy("The message is empty.")},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["files"] = files_field()


class DeskLinkForm(forms.Form):
    project = ProjectChoiceField(
        label=gettext_lazy("Linked project"),
        queryset=None,
        to_field_name="code",
        required=False,
        empty_label=gettext_lazy("No project"),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = projects_visible_to(user).order_by("-created_at", "-pk")


class DeskFilterForm(forms.Form):
    state = forms.ChoiceField(
        label=gettext_lazy("State"),
        choices=[("", gettext_lazy("All")), *DeskState.choices],
        required=False,
    )
    topic = forms.ChoiceField(
        label=gettext_lazy("Topic"),
        choices=[("", gettext_lazy("All")), *DeskTopic.choices],
        required=False,
    )
    overdue = forms.BooleanField(label=gettext_lazy("Overdue only"), required=False)


def desk(request):
    """The reader's requests (their own and their cities'; all of them for staff, with
    filters), each with its age in working days against the target; for anybody who may not
    use the desk, who may."""
    user = request.user
    staff = is_desk_staff(user)
    may_ask = may_ask_desk(user)
    requests = desk_requests_visible_to(user)
    if not user.is_authenticated or not (staff or may_ask or requests.exists()):
        return render(request, "desk/who.html", {"target": _target()})
    filters = DeskFilterForm(request.GET or None)
    if filters.is_valid():
        if filters.cleaned_data["state"]:
            requests = requests.filter(state=filters.cleaned_data["state"])
        if filters.cleaned_data["topic"]:
            requests = requests.filter(topic=filters.cleaned_data["topic"])
        if filters.cleaned_data["overdue"]:
            requests = requests.filter(overdue())
    page = Paginator(requests.order_by("-created_at", "-pk"), PER_PAGE).get_page(
        request.GET.get("page")
    )
    now = timezone.now()
    for row in page.object_list:
        row.age = age_in_working_days(row, now)
        row.overdue = is_overdue(row, now)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "desk/list.html",
        {
            "page": page,
            "filters": filters,
            "staff": staff,
            "may_ask": may_ask,
            "target": _target(),
            "query": query.urlencode(),
        },
    )


def _target() -> int:
    return settings.DESK_FIRST_ANSWER_WORKING_DAYS


@login_required
def desk_new(request):
    if not may_ask_desk(request.user):
        messages.info(request, _("You may not ask the consultation desk with this account."))
        return redirect("desk")
    form = DeskRequestForm(request.POST or None, request.FILES or None, user=request.user)
    if request.method == "POST":
        valid = form.is_valid()
        report_oversized_uploads(request, form)
        if valid and not form.errors:
            data = form.cleaned_data
            try:
                desk_request = services.open_request(
                    user=request.user,
                    topic=data["topic"],
                    subject=data["subject"],
                    body=data["body"],
                    city=data.get("city"),
                    project=data.get("project"),
                    files=data["files"],
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(
                    request,
                    ngettext(
                        "Your request is sent. Programme staff answer within %(days)d working day.",
                        "Your request is sent. Programme staff answer within %(days)d working "
                        "days.",
                        _target(),
                    )
                    % {"days": _target()},
                )
                return redirect(desk_request)
    return render(request, "desk/new.html", {"form": form, "target": _target()})


# A request's pages have no login_required: the gate answers 404 to anyone who may not see
# the request, signed in or not (issue 16), and the 404 page offers visitors to sign in.
def desk_request(request, code):
    desk_request = get_desk_request_for_user(request.user, code)
    files = DeskFile.objects.filter(request=desk_request).order_by("uploaded_at", "pk")
    thread = desk_request.messages.select_related("author").prefetch_related(
        Prefetch("files", queryset=files)
    )
    staff = is_desk_staff(request.user)
    can_answer = may_answer_desk(request.user)
    is_open = desk_request.state != DeskState.CLOSED
    link_form = None
    if desk_request.reader_is_asker and is_open:
        link_form = DeskLinkForm(
            initial={"project": desk_request.project.code if desk_request.project else None},
            user=request.user,
        )
        if not link_form.fields["project"].queryset.exists():
            link_form = None
    now = timezone.now()
    return render(
        request,
        "desk/detail.html",
        {
            "desk_request": desk_request,
            "request_files": files.filter(message=None),
            "thread": thread,
            "staff": staff,
            "age": age_in_working_days(desk_request, now),
            "overdue": is_overdue(desk_request, now),
            "target": _target(),
            "can_reply": is_open and (can_answer or desk_request.reader_is_asker),
            "can_answer": can_answer,
            "can_close": is_open and (can_answer or desk_request.reader_is_asker),
            "reply_form": DeskReplyForm(),
            "link_form": link_form,
            # Staff may link any project: the reader sees it named only if they may open it.
            "show_project": desk_request.project_id is not None
            and projects_visible_to(request.user).filter(pk=desk_request.project_id).exists(),
        },
    )


@require_POST
def desk_reply(request, code):
    """Staff answer; the asker (or a member of the request's city) follows up."""
    desk_request = get_desk_request_for_user(request.user, code)
    if may_answer_desk(request.user):
        post, sent = services.answer_request, _("Your answer is sent.")
        who = {"actor": request.user}
    elif desk_request.reader_is_asker:
        post, sent = services.follow_up_request, _("Your message is sent to programme staff.")
        who = {"user": request.user}
    else:
        raise PermissionDenied
    form = DeskReplyForm(request.POST, request.FILES)
    valid = form.is_valid()
    report_oversized_uploads(request, form)
    if valid and not form.errors:
        with refusal_shown(request):
            post(
                **who,
                desk_request=desk_request,
                body=form.cleaned_data["body"],
                files=form.cleaned_data["files"],
            )
            messages.success(request, sent)
    else:
        for errors in form.errors.values():
            messages.error(request, " ".join(errors))
    return redirect(desk_request.get_absolute_url() + "#reply")


@require_POST
def desk_close(request, code):
    desk_request = get_desk_request_for_user(request.user, code)
    with refusal_shown(request):
        services.close_request(actor=request.user, desk_request=desk_request)
        messages.success(request, _("The request is closed."))
    return redirect(desk_request)


@require_POST
def desk_link(request, code):
    """The asker links the request to one of the projects they may see (or unlinks it)."""
    desk_request = get_desk_request_for_user(request.user, code)
    if not (desk_request.reader_is_asker or may_answer_desk(request.user)):
        raise PermissionDenied
    form = DeskLinkForm(request.POST, user=request.user)
    if form.is_valid():
        with refusal_shown(request):
            services.link_request_to_project(
                actor=request.user, desk_request=desk_request, project=form.cleaned_data["project"]
            )
            messages.success(request, _("The linked project is saved."))
    else:
        messages.error(request, _("Choose one of your projects."))
    return redirect(desk_request)


def desk_file(request, code, file_code):
    desk_file = get_desk_file_for_user(request.user, code, file_code)
    return audited_download(
        request,
        "download.desk_file",
        desk_file,
        city=desk_file.request.city,
        target=f"desk {code}",
        desk_request=code,
    )
