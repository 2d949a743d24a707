"""Public pages for residents (DESIGN §5): self-report, tracking, rating through a link.

No account and no JavaScript. Every write goes through cases/services.py; these
views parse, apply the abuse limits (cases/limits.py) and answer each refusal
with a page that says what happened, never with a partial save.
"""

import re

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.text import Truncator
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from gov_platform.errors import add_service_errors
from grids.models import Area, Tier

from . import invitations, limits, locate, selectors
from .forms import MultiplePhotoField
from .models import AttachmentKind, Category, Rating, Source, Status, validate_contact_phone
from .services import InvitationRefused, create_case, rate_by_invitation

TRACKING_CODE = re.compile(r"^[0-9A-Z]{4,12}$")


def client_ip(request) -> str:
    """The client's address; behind N trusted proxies (the login lockout's setting), the Nth from the right."""
    proxies = getattr(settings, "AXES_IPWARE_PROXY_COUNT", None) or 0
    if proxies:
        forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if p.strip()]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR", "")


def _category_choices():
    groups = {}
    for category in Category.objects.filter(parent__isnull=False, is_active=True).select_related("parent"):
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


class ResidentForm(forms.Form):
    def __init__(self, *args, **kwargs):
        # Labels stand above their fields on a phone: no trailing colon.
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class ReportForm(ResidentForm):
    category = forms.ChoiceField(label=_("What kind of problem"))
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
    grid = forms.ChoiceField(label=_("Grid"), required=False)
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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = _category_choices()
        self.fields["grid"].choices = _grid_choices()
        self.fields["latitude"].widget.attrs.update({"step": "any", "inputmode": "decimal"})
        self.fields["longitude"].widget.attrs.update({"step": "any", "inputmode": "decimal"})
        self.fields["contact_name"].widget.attrs["autocomplete"] = "name"

    def clean_category(self):
        category = Category.objects.filter(
            pk=self.cleaned_data["category"], parent__isnull=False, is_active=True
        ).first()
        if category is None:
            raise forms.ValidationError(gettext("Choose what kind of problem it is."))
        return category

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
            grid = Area.objects.filter(pk=grid_id, tier=Tier.GRID).first()
            if grid is None:
                self.add_error("grid", gettext("Choose a grid from the list."))
                return data
        elif lat is not None:
            grid = locate.grid_at_point(lat, lng)
            if grid is None:
                self.add_error("grid", gettext("That map point is not inside a grid we know; choose the grid."))
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
def _notice(request, status, title, message, *, link=None, link_text=None, retry_after=None):
    response = render(
        request,
        "residents/notice.html",
        {"title": title, "message": message, "link": link, "link_text": link_text},
        status=status,
    )
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


def _too_many(retry_after):
    minutes = max(1, round(retry_after / 60))
    return gettext("Too many requests from you in a short time. Please try again in about %(n)d minutes.") % {
        "n": minutes
    }


def _report_page(request, form, status=200, *, retry_after=None):
    context = {"form": form, "retention_days": settings.CONTACT_RETENTION_DAYS}
    response = render(request, "residents/report.html", context, status=status)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


@require_http_methods(["GET", "POST"])
def report(request):
    if request.method == "GET":
        return _report_page(request, ReportForm())
    form = ReportForm(request.POST, request.FILES)
    ip = client_ip(request)
    verdict = limits.hit("report_ip", ip)
    if not verdict.allowed:
        form.is_valid()  # so the page shows what was typed
        form.add_error(None, _too_many(verdict.retry_after))
        return _report_page(request, form, 429, retry_after=verdict.retry_after)
    if not form.is_valid():
        return _report_page(request, form, 400)
    data = form.cleaned_data
    guard = limits.DuplicateGuard(form.contact or f"ip:{ip}", data["description"])
    first = guard.claim()
    if first is not None:
        if first == limits.PENDING:
            form.add_error(None, gettext("The same report is being saved right now; wait a moment."))
        else:
            form.add_error(
                None,
                gettext(
                    "You reported the same problem a moment ago; it was not saved twice. Its tracking code is %(code)s."
                )
                % {"code": first},
            )
            form.first_tracking_code = first
        return _report_page(request, form, 409)
    if form.contact:
        verdict = limits.hit("report_contact", form.contact)
        if not verdict.allowed:
            guard.release()
            form.add_error(None, _too_many(verdict.retry_after))
            return _report_page(request, form, 429, retry_after=verdict.retry_after)
    first_line = data["description"].splitlines()[0]
    try:
        case = create_case(
            actor=None,
            source=Source.RESIDENT,
            title=Truncator(first_line).chars(40),
            description=data["description"],
            category=data["category"],
            grid=data["grid_area"],
            address=data["address"],
            latitude=None if data["latitude"] is None else round(data["latitude"], 6),
            longitude=None if data["longitude"] is None else round(data["longitude"], 6),
            contact_name=data["contact_name"].strip(),
            contact_phone=data["contact_phone"],
            contact_email=data["contact_email"],
            photos=data["photos"],
        )
    except ValidationError as exc:
        guard.release()
        # The title is cut from the description: its errors are the description's.
        add_service_errors(form, exc, renamed={"title": "description"})
        return _report_page(request, form, 400)
    except BaseException:
        guard.release()
        raise
    guard.settle(case.tracking_code)
    return redirect(reverse("residents:track", args=[case.tracking_code]) + "?new=1")


@require_GET
def track_lookup(request):
    form = TrackLookupForm(request.GET or None)
    if form.is_bound and form.is_valid():
        return redirect("residents:track", code=form.cleaned_data["code"])
    return render(request, "residents/track_lookup.html", {"form": form}, status=400 if form.is_bound else 200)


@never_cache
@require_GET
def track(request, code):
    verdict = limits.hit("track_ip", client_ip(request))
    if not verdict.allowed:
        return _notice(
            request, 429, gettext("Please wait"), _too_many(verdict.retry_after), retry_after=verdict.retry_after
        )
    case = selectors.public_case(code) if TRACKING_CODE.match(code.upper()) else None
    if case is None:
        return _notice(
            request,
            404,
            gettext("Unknown tracking code"),
            gettext("No report has this tracking code. Check the code you were given and try again."),
            link=reverse("residents:track_lookup"),
            link_text=gettext("Enter a tracking code"),
        )
    show_result = case.status in (Status.FED_BACK, Status.RATED, Status.CLOSED)
    context = {
        "case": case,
        "status": selectors.PUBLIC_STATUS[case.status],
        "timeline": selectors.public_timeline(case),
        "result": case.result if show_result else "",
        "dismiss_reason": case.get_dismiss_reason_display() if case.status == Status.DISMISSED else "",
        "street": case.grid.parent.parent if case.grid.parent_id else None,
        "community": case.grid.parent,
        "new": request.GET.get("new") == "1",
        "track_url": request.build_absolute_uri(reverse("residents:track", args=[case.tracking_code])),
        "retention_days": settings.CONTACT_RETENTION_DAYS,
    }
    return render(request, "residents/track.html", context)


REFUSALS = {
    invitations.InvitationState.UNKNOWN: (
        404,
        _("Link not recognised"),
        _("This rating link is not valid. It may have been copied incompletely; open it again from the message."),
    ),
    invitations.InvitationState.USED: (
        410,
        _("Link already used"),
        _("This rating link has already been used: the case was rated. Thank you."),
    ),
    invitations.InvitationState.EXPIRED: (
        410,
        _("Link expired"),
        _("This rating link has expired. If the problem is not solved, please report it again."),
    ),
    invitations.InvitationState.CLOSED: (
        410,
        _("Rating closed"),
        _("This case can no longer be rated: it was closed or reopened after this link was sent."),
    ),
}


def _refused(request, state, case=None):
    status, title, message = REFUSALS[state]
    link = reverse("residents:track", args=[case.tracking_code]) if case is not None else None
    return _notice(
        request, status, title, message, link=link, link_text=gettext("See the case's progress") if link else None
    )


# The link is a credential: no shared cache may keep the page.
@never_cache
@require_http_methods(["GET", "POST"])
def rate(request, token):
    resolved = invitations.resolve(token)
    case = resolved.invitation.case if resolved.invitation else None
    if resolved.state != invitations.InvitationState.VALID:
        return _refused(request, resolved.state, case)
    form = RatingForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        verdict = limits.hit("rate_ip", client_ip(request))
        if not verdict.allowed:
            form.is_valid()
            form.add_error(None, _too_many(verdict.retry_after))
            status = 429
        elif form.is_valid():
            try:
                case = rate_by_invitation(
                    invitation=resolved.invitation,
                    rating=form.cleaned_data["rating"],
                    comment=form.cleaned_data["comment"].strip(),
                )
            except InvitationRefused as exc:
                return _refused(request, exc.state, case)
            except ValidationError as exc:
                add_service_errors(form, exc)
                status = 400
            else:
                return render(
                    request,
                    "residents/rated.html",
                    {
                        "case": case,
                        "reopened": case.status == Status.ASSIGNED,
                        "flagged": case.status == Status.RATED and case.rating == Rating.DISSATISFIED,
                    },
                )
        else:
            status = 400
    context = {
        "case": case,
        "form": form,
        "after_photos": case.attachments.filter(kind=AttachmentKind.AFTER),
    }
    response = render(request, "residents/rate.html", context, status=status)
    if status == 429:
        response["Retry-After"] = str(verdict.retry_after)
    return response
