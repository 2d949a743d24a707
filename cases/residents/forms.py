"""The residents' forms: self-report, rating and tracking-code lookup; they parse, the services decide."""

import re

from django import forms
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from grids.models import Area, Tier

from ..forms import MultiplePhotoField
from ..models import Category, Rating, validate_contact_phone
from ..reference import kept_row
from . import locate

TRACKING_CODE = re.compile(r"^[0-9A-Z]{4,12}$")


def _category_choices():
    groups = {}
    # Only what a resident would report: the list's entries marked public (Category.public).
    for category in Category.objects.filter(parent__isnull=False, is_active=True, public=True).select_related("parent"):
        groups.setdefault(category.parent.name, []).append((str(category.pk), category.name))
    return [("", "---------"), *groups.items()]


def _grid_choices():
    """Grids grouped under "street / community", in the tree's order."""
    grids = Area.objects.filter(tier=Tier.GRID).select_related("parent__parent").order_by("path")
    groups = {}
    for grid in grids:
        community = grid.parent
        street = community.parent if community else None
        label = " / ".join(a.name for a in (street, community) if a is not None)
        groups.setdefault(label, []).append((str(grid.pk), grid.name))
    return [("", _("— find it from the address or map point below —")), *groups.items()]


class ListedChoiceField(forms.TypedChoiceField):
    """A choice of a category or grid by id. The list of choices is built only to show the form: the form's
    clean checks the chosen id against the database under the same conditions as the list, so a report
    sent does not read every grid to validate one."""

    def __init__(self, **kwargs):
        super().__init__(coerce=int, empty_value=None, **kwargs)

    def valid_value(self, value):
        return True

    def not_listed(self, value) -> forms.ValidationError:
        """The error the list would have given: the chosen id is not one of its entries."""
        return forms.ValidationError(
            self.error_messages["invalid_choice"], code="invalid_choice", params={"value": value}
        )


class ResidentForm(forms.Form):
    def __init__(self, *args, **kwargs):
        # Labels stand above their fields on a phone: no trailing colon.
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class ReportForm(ResidentForm):
    category = ListedChoiceField(label=_("What kind of problem"), choices=_category_choices)
    description = forms.CharField(
        label=_("Describe the problem"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("What is wrong, where exactly, since when."),
    )
    photos = MultiplePhotoField(
        label=pgettext_lazy("resident page", "Photos"),
        required=False,
        help_text=_("Up to 3 photos, at most 8 MB each (JPEG, PNG, WebP, GIF or BMP)."),
    )
    grid = ListedChoiceField(label=_("Grid"), required=False, choices=_grid_choices)
    address = forms.CharField(
        label=pgettext_lazy("resident page", "Address"),
        required=False,
        max_length=200,
        help_text=_("Street, building and door number; it also finds the grid if you did not choose one."),
    )
    latitude = forms.FloatField(
        label=pgettext_lazy("resident page", "Latitude"), required=False, min_value=-90, max_value=90
    )
    longitude = forms.FloatField(
        label=pgettext_lazy("resident page", "Longitude"), required=False, min_value=-180, max_value=180
    )
    contact_name = forms.CharField(label=_("Your name"), required=False, max_length=50)
    contact_phone = forms.CharField(
        label=_("Mobile phone"),
        required=False,
        max_length=20,
        help_text=_("Only the office sees it; the rating link is sent to it."),
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel"}),
    )
    contact_email = forms.EmailField(
        label=pgettext_lazy("resident page", "Email"),
        required=False,
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    # Set once the resident has seen the open cases nearby and says theirs is another problem.
    file_anyway = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["latitude"].widget.attrs.update({"step": "any", "inputmode": "decimal"})
        self.fields["longitude"].widget.attrs.update({"step": "any", "inputmode": "decimal"})
        self.fields["contact_name"].widget.attrs["autocomplete"] = "name"

    def clean_category(self):
        chosen = self.cleaned_data["category"]
        try:
            # The conditions of _category_choices; the row kept per process (cases.reference).
            return kept_row(
                "report-form-category",
                chosen,
                lambda: Category.objects.get(pk=chosen, parent__isnull=False, is_active=True, public=True),
            )
        except Category.DoesNotExist:
            raise self.fields["category"].not_listed(chosen) from None

    def clean_description(self):
        text = self.cleaned_data["description"].strip()
        if len(text) < 5:
            raise forms.ValidationError(gettext("Describe the problem in a few words."))
        return text

    def clean_contact_phone(self):
        # Residents type spaces and dashes; the rule is the one every other way in uses.
        phone = re.sub(r"[ \-]", "", self.cleaned_data["contact_phone"].strip())
        if phone:
            validate_contact_phone(phone)
        return phone

    def clean_contact_email(self):
        return self.cleaned_data["contact_email"].strip()

    def clean(self):
        data = super().clean()
        grid_id, lat, lng = data.get("grid"), data.get("latitude"), data.get("longitude")
        if (lat is None) != (lng is None):
            self.add_error("latitude", gettext("Give both latitude and longitude, or neither."))
            return data
        grid = None
        if grid_id:
            try:
                # The conditions of _grid_choices; the row kept per process (cases.reference), without its
                # outline: nothing a report does with its grid reads it.
                grid = kept_row(
                    "report-form-grid",
                    grid_id,
                    lambda: Area.objects.without_boundaries().get(pk=grid_id, tier=Tier.GRID),
                )
            except Area.DoesNotExist:
                # Refused as the list refused it; a map point or address may still find the grid below.
                self.add_error("grid", self.fields["grid"].not_listed(grid_id))
        if grid is not None:
            pass  # chosen from the list
        elif lat is not None:
            place = locate.locate(lat, lng)
            grid = place.grid
            if grid is None:
                self.add_error("grid", gettext("That map point is not inside a grid we know; choose the grid."))
            elif place.ambiguous:
                # Within a few metres of an edge the pin may be on either side: the resident says which.
                candidates = [grid, *place.nearby]
                self.fields["grid"].choices = [
                    ("", "---------"),
                    *((str(g.pk), f"{g.name}（{g.parent.name}）") for g in candidates),
                ]
                self.add_error(
                    "grid",
                    gettext("The point is on the edge between %(grids)s: choose the one the problem is in.")
                    % {"grids": " / ".join(g.name for g in candidates)},
                )
                grid = None
        elif data.get("address"):
            grid = locate.grid_from_address(data["address"])
            if grid is None:
                self.add_error(
                    "grid", gettext("We could not find the grid from this address; choose it from the list.")
                )
        else:
            self.add_error("grid", gettext("Choose the grid, or give an address or a map point."))
        data["grid_area"] = grid
        return data

    @property
    def contact(self) -> str:
        """Who is reporting, as far as the form says: the phone, else the email; empty if anonymous."""
        data = self.cleaned_data
        return data.get("contact_phone") or (data.get("contact_email") or "").casefold()


class RatingForm(ResidentForm):
    # The labels are the Rating choices' own: 满意 / 基本满意 / 不满意 once translated.
    rating = forms.ChoiceField(
        label=_("How satisfied are you with the result?"), choices=Rating.choices, widget=forms.RadioSelect
    )
    comment = forms.CharField(
        label=_("Comment (optional)"), required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 3})
    )


class TrackLookupForm(ResidentForm):
    code = forms.CharField(label=pgettext_lazy("resident page", "Tracking code"), max_length=20)

    def clean_code(self):
        code = "".join(self.cleaned_data["code"].split()).upper()
        if not TRACKING_CODE.match(code):
            raise forms.ValidationError(gettext("A tracking code is 10 letters and digits."))
        return code


# --- pages -----------------------------------------------------------------------------------


class FollowForm(ResidentForm):
    """Follow an open case offered on /report/: the point and kind it was offered for, and how to reach you."""

    case = forms.IntegerField(widget=forms.HiddenInput)
    category = forms.IntegerField(widget=forms.HiddenInput)
    latitude = forms.FloatField(widget=forms.HiddenInput, min_value=-90, max_value=90)
    longitude = forms.FloatField(widget=forms.HiddenInput, min_value=-180, max_value=180)
    contact_name = forms.CharField(label=_("Your name"), required=False, max_length=50)
    contact_phone = forms.CharField(label=_("Mobile phone"), required=False, max_length=20)
    contact_email = forms.EmailField(label=pgettext_lazy("resident page", "Email"), required=False, max_length=254)

    def clean_contact_phone(self):
        phone = re.sub(r"[ \-]", "", self.cleaned_data["contact_phone"].strip())
        if phone:
            validate_contact_phone(phone)
        return phone

    def clean(self):
        data = super().clean()
        if not data.get("contact_phone") and not (data.get("contact_email") or "").strip():
            self.add_error("contact_phone", gettext("Give a phone number or an email, so we can tell you."))
        return data
