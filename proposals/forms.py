import zoneinfo

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms
from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from smartjamp.uploads import PDF, check_upload, checked_file_name

from .models import (
    CITY_FIELDS,
    ELIGIBILITY_CHECKS,
    AttachmentKind,
    Call,
    City,
    CityKind,
    Country,
    Instrument,
    JapanesePartner,
    JoinRequest,
    MemberRole,
    Proposal,
    Recommendation,
    User,
)
from .models.proposal import SECTIONS
from .zones import programme_zones, zone_choices


class SignupExtraForm(forms.Form):
    """Fields added to allauth's sign-up form (allauth calls `signup` after creating the user)."""

    full_name = forms.CharField(label=_("Full name"), max_length=200)
    position = forms.CharField(
        label=_("Position"),
        max_length=200,
        required=False,
        help_text=_("Your job title or office, for example “Head of the Smart City Unit”."),
    )

    country = forms.ModelChoiceField(
        label=_("Your country"),
        queryset=Country.objects.order_by("name"),
        required=False,
        empty_label=_("Choose your country"),
    )
    language = forms.ChoiceField(
        label=_("Your language"),
        choices=settings.LANGUAGES,
        required=False,
    )
    time_zone = forms.ChoiceField(
        label=_("Your time zone"),
        required=False,
        help_text=_(
            "Deadlines and other times are shown to you in this zone. Leave it to use your "
            "country's."
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [("", _("My country's time")), *programme_zones()]
        self.fields["time_zone"].widget.attrs["data-browser-zone"] = ""  # static/js/zone.js
        # The language the page is read in, which the switcher or the browser chose.
        self.fields["language"].initial = translation.get_language()

    def signup(self, request, user: User) -> None:
        country = self.cleaned_data.get("country")
        user.full_name = self.cleaned_data["full_name"]
        user.position = self.cleaned_data["position"]
        user.country = country
        # As chosen; otherwise the language the form was read in.
        user.language = self.cleaned_data["language"] or translation.get_language()
        user.time_zone = self.cleaned_data["time_zone"] or (
            country.time_zone if country else settings.PROGRAMME_TIME_ZONE
        )
        user.save(update_fields=["full_name", "position", "country", "language", "time_zone"])


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["full_name", "position", "country", "language", "time_zone", "notify_calls"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["full_name"].required = True
        self.fields["time_zone"].choices = zone_choices()
        self.helper = FormHelper()
        self.helper.add_input(Submit("save", _("Save profile")))


class CityRegistrationForm(forms.ModelForm):
    authorisation_letter = forms.FileField(
        label=_("Authorisation letter (PDF)"),
        help_text=_(
            "A signed letter from your city, province or ministry saying that you may apply on "
            "its behalf. PDF only, at most 10 MB."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": "application/pdf,.pdf"}),
    )

    class Meta:
        model = City
        fields = ["country", "kind", "name", "region", "population", "time_zone"]
        help_texts = {
            "name": _("The official name, as on your authorisation letter."),
            "time_zone": _("Leave empty to use the country's time zone."),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["country"].queryset = Country.objects.filter(asean_member=True)
        self.fields["kind"].choices = CityKind.choices
        self.fields["time_zone"].required = False
        self.fields["time_zone"].choices = [("", _("The country's time")), *zone_choices()]
        self.helper = FormHelper()
        self.helper.attrs = {"enctype": "multipart/form-data"}
        self.helper.add_input(Submit("register", _("Register")))

    def clean_authorisation_letter(self):
        letter = self.cleaned_data["authorisation_letter"]
        check_upload(
            letter, allowed={PDF: "PDF"}, max_bytes=settings.AUTHORISATION_LETTER_MAX_BYTES
        )
        return letter

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("time_zone") and cleaned.get("country"):
            cleaned["time_zone"] = cleaned["country"].time_zone
        if letter := cleaned.get("authorisation_letter"):
            cleaned["letter_name"] = checked_file_name(letter.name, PDF)
        return cleaned

    def _post_clean(self):
        # The model is saved by services.register_city, not by this form.
        pass


class JoinRequestForm(forms.ModelForm):
    class Meta:
        model = JoinRequest
        fields = ["message"]
        widgets = {"message": forms.Textarea(attrs={"rows": 3})}
        help_texts = {"message": _("Tell the city's leads who you are and why you join.")}


class CityInvitationForm(forms.Form):
    """A lead invites a colleague (issue 18: services.invite_to_city)."""

    email = forms.EmailField(
        label=_("Colleague's email address"),
        help_text=_("Their official address: they sign in or create an account with it."),
    )
    role = forms.ChoiceField(label=_("Role"), choices=MemberRole.choices, initial=MemberRole.EDITOR)


class CitySearchForm(forms.Form):
    """ "Find my city" on My cities: registered cities by name and country."""

    name = forms.CharField(label=_("Name of the city"), max_length=120, min_length=2)
    country = forms.ModelChoiceField(
        label=_("Country"),
        queryset=Country.objects.filter(asean_member=True),
        required=False,
        empty_label=_("Any"),
        widget=forms.Select(attrs={"class": "form-select"}),
    )


def text_area(label, *, rows: int, max_length: int, **options) -> forms.CharField:
    """A text typed in a box of `rows` lines."""
    return forms.CharField(
        label=label, widget=forms.Textarea(attrs={"rows": rows}), max_length=max_length, **options
    )


class RejectionForm(forms.Form):
    reason = text_area(
        _("Reason for rejection"),
        rows=4,
        max_length=2000,
        help_text=_("Shown to the city's members."),
    )


# Proposals -----------------------------------------------------------------------------------


class StartProposalForm(forms.Form):
    # Rendered by hand on the call page (calls/detail.html), hence the Bootstrap classes here.
    city = forms.ModelChoiceField(
        label=_("For the city"),
        queryset=City.objects.none(),
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    title = forms.CharField(
        label=_("Working title"),
        max_length=200,
        widget=forms.TextInput(attrs={"class": "form-control"}),
    )

    def __init__(self, *args, cities, **kwargs):
        """`cities`: a queryset, or a list of the cities already loaded (the call page's),
        which then also gives the choices without another query."""
        super().__init__(*args, **kwargs)
        field = self.fields["city"]
        if isinstance(cities, list):
            field.queryset = City.objects.filter(pk__in=[city.pk for city in cities])
            field.choices = [("", field.empty_label)] + [(city.pk, str(city)) for city in cities]
        else:
            field.queryset = cities
        if len(cities) == 1:
            field.initial = cities[0].pk


class ProposalForm(forms.ModelForm):
    """What the city edits. Status, city, call, reference code and approved amounts are not
    fields here, so posting them changes nothing."""

    base_version = forms.IntegerField(widget=forms.HiddenInput)
    instruments = forms.MultipleChoiceField(
        label=_("Financing instruments sought"),
        choices=Instrument.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    class Meta:
        model = Proposal
        fields = [*CITY_FIELDS, "focus_areas", "sectors"]
        widgets = {
            "summary": forms.Textarea(attrs={"rows": 4}),
            "problem": forms.Textarea(attrs={"rows": 6}),
            "solution": forms.Textarea(attrs={"rows": 6}),
            "outcomes": forms.Textarea(attrs={"rows": 4}),
            "indicators": forms.Textarea(attrs={"rows": 4}),
            "timeline": forms.Textarea(attrs={"rows": 4}),
            "co_financing_sources": forms.Textarea(attrs={"rows": 2}),
            "focus_areas": forms.CheckboxSelectMultiple,
            "sectors": forms.CheckboxSelectMultiple,
            "start_date": forms.DateInput(attrs={"type": "date"}),
        }
        help_texts = {
            "summary": _("A few sentences a busy reader understands."),
            "indicators": _("How you will measure each outcome, with today's value and a target."),
            "timeline": _("The main steps, one a line, with months."),
            "requested_jpy": _("What you ask of the programme, in yen."),
            "declaration": _(
                "I declare that the information in this proposal is accurate and that I am "
                "authorised to submit it on behalf of my city."
            ),
        }

    SECTIONS = SECTIONS  # the template lays the form out by them

    def __init__(self, *args, call, **kwargs):
        super().__init__(*args, **kwargs)
        self.call = call
        self.fields["requested_jpy"].help_text = _(
            "What you ask of the programme, in yen: at most ¥%(max)s in this call."
        ) % {"max": f"{call.max_request_jpy:,}"}
        if self.instance.pk and not self.is_bound:
            self.initial["base_version"] = self.instance.version
        for name in ("total_cost_jpy", "requested_jpy", "co_financing_jpy"):
            self.fields[name].widget.attrs.update({"inputmode": "numeric", "min": "0"})
            self.fields[name].max_value = 10**15
            self.fields[name].validators.append(MaxValueValidator(10**15))
        duration = self.fields["duration_months"]
        duration.min_value, duration.max_value = 1, 120
        duration.validators += [MinValueValidator(1), MaxValueValidator(120)]

    def clean(self):
        cleaned = super().clean()
        requested, total = cleaned.get("requested_jpy"), cleaned.get("total_cost_jpy")
        if requested is not None and requested > self.call.max_request_jpy:
            self.add_error(
                "requested_jpy",
                _("This call funds at most ¥%(max)s per proposal.")
                % {"max": f"{self.call.max_request_jpy:,}"},
            )
        elif requested is not None and total is not None and requested > total:
            self.add_error("requested_jpy", _("The request cannot exceed the total cost."))
        return cleaned

    def _post_clean(self):
        # The proposal is saved by services.save_draft (with its version check), not here.
        pass


class PartnerForm(forms.ModelForm):
    class Meta:
        model = JapanesePartner
        fields = ["name", "kind", "role"]


PartnerFormSet = forms.formset_factory(
    PartnerForm, extra=1, can_delete=True, max_num=20, validate_max=True, absolute_max=20
)


def partner_rows(formset) -> list[dict]:
    """The partners a bound, valid formset describes (blank and deleted rows left out)."""
    return [
        {field: form.cleaned_data[field] for field in ("name", "kind", "role")}
        for form in formset.forms
        if form.cleaned_data and not form.cleaned_data.get("DELETE")
    ]


class AttachmentForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind of document"), choices=AttachmentKind.choices)
    file = forms.FileField(
        label=_("File"),
        help_text=_("PDF, DOCX, XLSX, PNG or JPEG; at most 20 MB; at most 10 files in all."),
        widget=forms.ClearableFileInput(attrs={"accept": ".pdf,.docx,.xlsx,.png,.jpg,.jpeg"}),
    )


class WithdrawForm(forms.Form):
    reason = text_area(
        _("Why do you withdraw this proposal?"),
        rows=4,
        max_length=2000,
        help_text=_("Programme staff read this. Withdrawal cannot be undone."),
    )


class MessageForm(forms.Form):
    body = text_area(_("Your message"), rows=3, max_length=5000)


# Review workflow (admin panel) -----------------------------------------------------------------


class EligibilityForm(forms.Form):
    def __init__(self, *args, checks, **kwargs):
        super().__init__(*args, **kwargs)
        for key, label in ELIGIBILITY_CHECKS:
            self.fields[key] = forms.BooleanField(label=label, required=False)
        self.initial.update({key: bool(checks.get(key)) for key, _label in ELIGIBILITY_CHECKS})


class RevisionForm(forms.Form):
    message = text_area(
        _("What the city should change"),
        rows=4,
        max_length=5000,
        help_text=_("Shown to the city's members."),
    )
    due = forms.DateTimeField(
        label=_("Resubmit by (JST)"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text=_("Japan Standard Time."),
    )

    def clean_due(self):
        due = self.cleaned_data["due"]
        # The staff enter Japanese time; store it in UTC.
        due = due.replace(tzinfo=zoneinfo.ZoneInfo("Asia/Tokyo"))
        if due <= timezone.now():
            raise forms.ValidationError(_("The deadline must be in the future."))
        return due


class LetterForm(forms.Form):
    letter = text_area(
        _("Decision letter"),
        rows=8,
        max_length=20000,
        help_text=_("Sent to the city and shown on its proposal page."),
    )


class ApproveForm(LetterForm):
    amount = forms.IntegerField(label=_("Approved amount (JPY)"), min_value=1)
    beyond_envelope = text_area(
        _("Reason to approve beyond the envelope"),
        rows=2,
        max_length=2000,
        required=False,
        help_text=_(
            "Needed only when the amount is more than what remains of the call's envelope; "
            "recorded in the audit trail."
        ),
    )

    def __init__(self, *args, requested: int | None, **kwargs):
        super().__init__(*args, **kwargs)
        self.requested = requested
        if requested:
            self.fields["amount"].initial = requested
            self.fields["amount"].help_text = self._at_most()

    def _at_most(self) -> str:
        return _("At most the requested ¥%(amount)s.") % {"amount": f"{self.requested:,}"}

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if self.requested is not None and amount > self.requested:
            raise forms.ValidationError(self._at_most())
        return amount


class ConsensusForm(forms.Form):
    """What a consensus panel agreed on a proposal (services.record_consensus): in which of
    the call's panels, a 1-5 score per criterion, the rationale and a recommendation."""

    session = forms.ModelChoiceField(label=_("Panel"), queryset=None, empty_label=None)
    rationale = text_area(_("Rationale"), rows=5, max_length=10000)
    recommendation = forms.ChoiceField(
        label=_("Recommendation"), choices=[("", "—"), *Recommendation.choices]
    )

    def __init__(self, *args, sessions, criteria, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["session"].queryset = sessions
        self.criteria = list(criteria)
        for criterion in self.criteria:
            self.fields[f"agreed_{criterion.pk}"] = forms.TypedChoiceField(
                label=criterion.name,
                choices=[(n, str(n)) for n in range(1, 6)],
                coerce=int,
                widget=forms.RadioSelect,
            )
        self.order_fields(["session", *(f"agreed_{c.pk}" for c in self.criteria)])

    def scores(self) -> dict[int, int]:
        return {c.pk: self.cleaned_data[f"agreed_{c.pk}"] for c in self.criteria}


class PanelForm(forms.Form):
    """A consensus panel opened for a call (services.open_panel)."""

    held_on = forms.DateField(label=_("Held on"), widget=forms.DateInput(attrs={"type": "date"}))
    members = forms.ModelMultipleChoiceField(
        label=_("Members"), queryset=User.objects.none(), widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, members, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["members"].queryset = members


class CopyProposalForm(forms.Form):
    """A new draft from an earlier proposal: in which open call, and with its files or not."""

    call = forms.ModelChoiceField(
        label=_("In the call"), queryset=Call.objects.none(), empty_label=None
    )
    with_attachments = forms.BooleanField(
        label=_("Copy its attachments too"),
        required=False,
        help_text=_("Otherwise upload this call's documents afresh."),
    )

    def __init__(self, *args, calls, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["call"].queryset = calls


class EvaluationSummaryForm(forms.Form):
    """The evaluation summary of a proposal in one language: an overall assessment and the
    strengths and weaknesses on each criterion of its call (services.write_evaluation_summary).
    No score and no reviewer's name: it is the city's to read."""

    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)
    overall = text_area(_("Overall assessment"), rows=5, max_length=10000)

    def __init__(self, *args, criteria, **kwargs):
        super().__init__(*args, **kwargs)
        self.criteria = list(criteria)
        for criterion in self.criteria:
            for part, label in (("strengths", _("Strengths")), ("weaknesses", _("Weaknesses"))):
                self.fields[f"{part}_{criterion.pk}"] = text_area(
                    label, rows=3, max_length=5000, required=False
                )

    def criterion_fields(self):
        """Each criterion with its two fields, in the rubric's order."""
        return [
            (criterion, self[f"strengths_{criterion.pk}"], self[f"weaknesses_{criterion.pk}"])
            for criterion in self.criteria
        ]

    def feedback(self) -> dict[int, tuple[str, str]]:
        data = self.cleaned_data
        return {
            c.pk: (data[f"strengths_{c.pk}"], data[f"weaknesses_{c.pk}"]) for c in self.criteria
        }


class AssignForm(forms.Form):
    reviewers = forms.ModelMultipleChoiceField(
        label=_("Reviewers"), queryset=User.objects.none(), widget=forms.CheckboxSelectMultiple
    )
    due = forms.DateField(label=_("Review due"), widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, pool, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reviewers"].queryset = pool


class AutoAssignForm(forms.Form):
    per_proposal = forms.IntegerField(
        label=_("Reviewers per proposal"), min_value=1, max_value=10, initial=2
    )
    due = forms.DateField(label=_("Review due"), widget=forms.DateInput(attrs={"type": "date"}))


class ConflictForm(forms.Form):
    conflict = forms.TypedChoiceField(
        label=_("Do you have a conflict of interest with this proposal?"),
        choices=[("no", _("No, I have no conflict of interest")), ("yes", _("Yes, I have one"))],
        widget=forms.RadioSelect,
        coerce=lambda value: value == "yes",
    )
    reason = text_area(
        _("If yes: what is the conflict?"),
        rows=3,
        max_length=2000,
        required=False,
        help_text=_("For example: you advise the city, or work for one of its partners."),
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("conflict") and not cleaned.get("reason", "").strip():
            self.add_error("reason", _("Please describe the conflict of interest."))
        return cleaned


class ReviewForm(forms.Form):
    """One 1-5 score per criterion of the call, a comment to staff and a recommendation."""

    comment = text_area(_("Comment to programme staff"), rows=6, max_length=10000, required=False)
    recommendation = forms.ChoiceField(
        label=_("Recommendation"),
        choices=[("", "—"), *Recommendation.choices],
        required=False,
    )

    SCORE_CHOICES = [("", "—")] + [(str(n), str(n)) for n in range(1, 6)]

    def __init__(self, *args, criteria, **kwargs):
        super().__init__(*args, **kwargs)
        self.criteria = list(criteria)
        for criterion in self.criteria:
            self.fields[score_field(criterion.pk)] = forms.TypedChoiceField(
                label=f"{criterion.name} (×{criterion.weight.normalize()})",
                help_text=criterion.description,
                choices=self.SCORE_CHOICES,
                coerce=int,
                empty_value=None,
                required=False,
                widget=forms.RadioSelect,
            )
        self.order_fields(
            [score_field(c.pk) for c in self.criteria] + ["comment", "recommendation"]
        )

    def scores(self) -> dict[int, int]:
        scores = {c.pk: self.cleaned_data.get(score_field(c.pk)) for c in self.criteria}
        return {pk: value for pk, value in scores.items() if value is not None}

    def score_fields(self):
        return [self[score_field(criterion.pk)] for criterion in self.criteria]


def score_field(criterion_id: int) -> str:
    """The name of the review form's field for the score of a criterion."""
    return f"score_{criterion_id}"
