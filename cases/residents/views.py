"""Public pages for residents (DESIGN §5): self-report, tracking, rating through a link.

No account, and no JavaScript needed (the map on /report/ only fills the point
fields). Every write goes through cases/services.py; these
views parse (cases/residents/forms.py), apply the abuse limits (limits.py) and
answer each refusal with a page that says what happened, never with a partial save.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.text import Truncator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from gov_platform.clients import client_ip
from gov_platform.errors import add_service_errors
from grids.models import Area, Tier
from grids.selectors import boundary_collection

from .. import extensions, kept_photos, selectors
from ..followers import follow_case
from ..models import AttachmentKind, Category, Rating, Source, Status
from ..nearby import nearby_open_cases
from ..services import InvitationRefused, create_case, rate_by_invitation
from . import invitations, limits
from .forms import TRACKING_CODE, FollowForm, RatingForm, ReportForm, TrackLookupForm

# The report form's kept photos: their batches signed for it alone, thumbnails at /report/photo/<key>/.
REPORT_PHOTOS = kept_photos.KeptFor(salt="cases.residents.kept-photos", thumbnail_url="residents:report_photo")


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


def _report_page(request, form, status=200, *, retry_after=None, offers=None, tray=None):
    context = {
        "form": form,
        "offers": offers or [],
        # Photos chosen earlier, kept on our side: a browser cannot put them back into the file input.
        "kept_photos": tray.photos() if tray is not None else [],
        "upload_batch": tray.token if tray is not None else "",
        "offer_metres": settings.NEARBY_CASE_METRES,
        "offer_days": settings.NEARBY_CASE_DAYS,
        "retention_days": settings.CONTACT_RETENTION_DAYS,
        "map_tiles": settings.MAP_TILE_URL,
        "map_tiles_attribution": settings.MAP_TILE_ATTRIBUTION,
    }
    response = render(request, "residents/report.html", context, status=status)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


@require_POST
def follow(request):
    """Follow a case offered on /report/ instead of filing the same problem: the tracking link goes to the
    resident's own phone or email, never onto this page (the offer must not hand out others' links)."""
    form = FollowForm(request.POST)
    ip = client_ip(request)
    verdict = limits.hit("report_ip", ip)
    if not verdict.allowed:
        return _notice(
            request, 429, gettext("Too many requests"), _too_many(verdict.retry_after), retry_after=verdict.retry_after
        )
    if not form.is_valid():
        message = " ".join(str(m) for errors in form.errors.values() for m in errors)
        return _notice(
            request,
            400,
            gettext("Could not follow the case"),
            message,
            link=reverse("residents:report"),
            link_text=gettext("Back to the report form"),
        )
    data = form.cleaned_data
    category = Category.objects.filter(pk=data["category"], parent__isnull=False, public=True).first()
    offered = (
        nearby_open_cases(user=None, category=category, latitude=data["latitude"], longitude=data["longitude"])
        if category is not None
        else []
    )
    case = next((c for c in offered if c.pk == data["case"]), None)
    if case is None:
        # Only a case offered for this point and kind: no walking through case ids.
        return _notice(
            request,
            404,
            gettext("Could not follow the case"),
            gettext("This case is not open near that point any more; send your own report."),
            link=reverse("residents:report"),
            link_text=gettext("Back to the report form"),
        )
    contact = data["contact_phone"] or data["contact_email"].casefold()
    verdict = limits.hit("report_contact", contact)
    if not verdict.allowed:
        return _notice(
            request, 429, gettext("Too many requests"), _too_many(verdict.retry_after), retry_after=verdict.retry_after
        )
    try:
        follow_case(case=case, name=data["contact_name"], phone=data["contact_phone"], email=data["contact_email"])
        # No report of theirs will be filed: the photos they chose for it are not kept.
        kept_photos.Tray.of(request, REPORT_PHOTOS).discard()
    except ValidationError as exc:
        return _notice(
            request,
            400,
            gettext("Could not follow the case"),
            " ".join(exc.messages),
            link=reverse("residents:report"),
            link_text=gettext("Back to the report form"),
        )
    return _notice(
        request,
        200,
        gettext("You follow case %(number)s") % {"number": case.number},
        gettext(
            "We sent its tracking link to the phone or email you gave, and will ask you once to rate the result "
            "when it has been handled. Thank you for not reporting it twice."
        ),
    )


@require_GET
def report_map(request):
    """The streets and grids for the map on /report/: names and polygons only, the same for everyone."""
    areas = Area.objects.filter(tier__in=[Tier.STREET, Tier.GRID]).select_related("parent").order_by("path")
    data = boundary_collection(
        areas, lambda a: {"label": f"{a.name}（{a.parent.name}）"} if a.tier == Tier.GRID else {}
    )
    response = JsonResponse(data, content_type="application/geo+json", json_dumps_params={"ensure_ascii": False})
    response["Cache-Control"] = "public, max-age=300"
    return response


@never_cache
@require_GET
def report_photo(request, key):
    """A kept photo's thumbnail, for the browser that chose it only (404 for anyone else)."""
    return kept_photos.thumbnail_response(request, key)


@require_http_methods(["GET", "POST"])
def report(request):
    if request.method == "GET":
        return _report_page(request, ReportForm())
    form = ReportForm(request.POST, request.FILES)
    tray = kept_photos.Tray.of(request, REPORT_PHOTOS)
    ip = client_ip(request)
    verdict = limits.hit("report_ip", ip)
    if not verdict.allowed:
        form.is_valid()  # so the page shows what was typed
        form.add_error(None, _too_many(verdict.retry_after))
        # A refused request changes nothing: the photos kept before stay, new ones are not taken in.
        return _report_page(request, form, 429, retry_after=verdict.retry_after, tray=tray)
    form.is_valid()
    tray.receive(form)
    if form.errors:
        return _report_page(request, form, 400, tray=tray)
    data = form.cleaned_data
    if not data.get("file_anyway") and data.get("latitude") is not None:
        # The same problem may be reported already: offer its open cases first (cases/followers.py).
        offers = nearby_open_cases(
            user=None, category=data["category"], latitude=data["latitude"], longitude=data["longitude"], limit=5
        )
        if offers:
            for case in offers:
                case.public_status = selectors.PUBLIC_STATUS[case.status]
            form.data = form.data.copy()
            form.data["file_anyway"] = "1"
            return _report_page(request, form, offers=offers, tray=tray)
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
        return _report_page(request, form, 409, tray=tray)
    if form.contact:
        verdict = limits.hit("report_contact", form.contact)
        if not verdict.allowed:
            guard.release()
            form.add_error(None, _too_many(verdict.retry_after))
            return _report_page(request, form, 429, retry_after=verdict.retry_after, tray=tray)
    first_line = data["description"].splitlines()[0]
    try:
        # The kept photos go with the case in one transaction: kept again if it fails, taken once if not.
        with transaction.atomic():
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
                photos=tray.take(),
            )
    except ValidationError as exc:
        guard.release()
        # The title is cut from the description: its errors are the description's.
        add_service_errors(form, exc, renamed={"title": "description"})
        return _report_page(request, form, 400, tray=tray)
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
        # "延期至 …" / "暂缓办理，预计 …": the moved clock, never the reasons.
        "clock_note": extensions.clock_note(case, public=True),
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
