from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from .models import City, CityKind, Country, JoinRequest, User
from .uploads import PDF, check_upload, sanitise_file_name


class SignupExtraForm(forms.Form):
    """Fields added to allauth's sign-up form (allauth calls `signup` after creating the user)."""

    full_name = forms.CharField(label=_("Full name"), max_length=200)
    position = forms.CharField(
        label=_("Position"),
        max_length=200,
        required=False,
        help_text=_("Your job title or office, for example “Head of the Smart City Unit”."),
    )

    time_zone = forms.ChoiceField(
        label=_("Your time zone"),
        help_text=_("Deadlines and other times are shown to you in this zone."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = programme_time_zones()

    def signup(self, request, user: User) -> None:
        user.full_name = self.cleaned_data["full_name"]
        user.position = self.cleaned_data["position"]
        user.time_zone = self.cleaned_data["time_zone"]
        user.save(update_fields=["full_name", "position", "time_zone"])


def programme_time_zones() -> list[tuple[str, str]]:
    """The zones of the programme's countries and cities, labelled by place (a short list)."""
    places: dict[str, list[str]] = {}
    for country in Country.objects.order_by("name"):
        places.setdefault(country.time_zone, []).append(str(country.name))
    for zone, city in City.objects.exclude(time_zone__in=places.keys()).values_list(
        "time_zone", "name"
    ):
        places.setdefault(zone, []).append(city)
    return sorted(
        ((zone, f"{', '.join(names)} ({zone})") for zone, names in places.items()),
        key=lambda choice: choice[1],
    )


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["full_name", "position", "language", "time_zone"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["full_name"].required = True
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
            cleaned["letter_name"] = sanitise_file_name(letter.name)
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


class RejectionForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for rejection"),
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Shown to the city's members."),
        max_length=2000,
    )
