"""The district privacy officer's page for residents' data-subject requests (PIPL), in the admin.

The officer enters a phone or an email, sees every case of the district that holds it,
exports them, or erases that contact on all of them after a confirmation step. Only users
with ``cases.handle_subject_request`` (the privacy_officer group, superusers) reach these
views; everyone else gets 403. The contact travels in POST bodies only, never in a URL, so
it stays out of access logs and browser history. The services in cases/privacy.py audit each action.
"""

import io

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext
from django.views.decorators.http import require_http_methods, require_POST
from openpyxl import Workbook

from gov_platform.spreadsheets import new_sheet

from . import privacy
from .models import Case

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _local(moment):
    # Excel has no time zones: local wall-clock time.
    return timezone.localtime(moment).replace(tzinfo=None) if moment else None


class ContactForm(forms.Form):
    contact = forms.CharField(
        label=gettext_lazy("Phone or email"),
        max_length=254,
        help_text=gettext_lazy(
            "The whole number or address the resident gave; only cases with exactly this contact are listed."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "off", "size": 32}),
    )

    def clean_contact(self):
        try:
            return privacy.parse_contact(self.cleaned_data["contact"])
        except ValidationError as exc:
            raise forms.ValidationError(exc.messages) from None


def _officer_only(request):
    if not privacy.may_handle_subject_requests(request.user):
        raise PermissionDenied


def _page(request, admin_site, *, form, contact=None, cases=None, confirm=False, status=200):
    context = {
        **admin_site.each_context(request),
        "title": _("Residents' data-subject requests"),
        "form": form,
        "contact": contact,
        "cases": cases,
        "confirm": confirm,
    }
    return TemplateResponse(request, "admin/cases/subject_request.html", context, status=status)


def _valid_contact(request):
    form = ContactForm(request.POST)
    return form, (form.cleaned_data["contact"] if form.is_valid() else None)


def search_view(admin_site):
    @require_http_methods(["GET", "POST"])
    def view(request):
        _officer_only(request)
        if request.method == "GET":
            return _page(request, admin_site, form=ContactForm())
        form, contact = _valid_contact(request)
        if contact is None:
            return _page(request, admin_site, form=form, status=400)
        cases = privacy.find_subject_cases(actor=request.user, contact=contact)
        return _page(request, admin_site, form=form, contact=contact, cases=cases)

    return view


EXPORT_FIELDS = [
    "number",
    "reported_at",
    "status",
    "category",
    "grid",
    "address",
    "title",
    "description",
    "contact_name",
    "contact_phone",
    "contact_email",
    "result",
    "rating",
    "rating_comment",
    "closed_at",
]


def _workbook(cases, contact, reported) -> bytes:
    """The resident's cases; on a case they only follow, the reporter's contact is someone else's and stays out."""
    workbook = Workbook(write_only=True)
    sheet = new_sheet(workbook, _("Cases"))
    sheet.append([_("Contact"), contact.value])
    headers = [str(capfirst(Case._meta.get_field(name).verbose_name)) for name in EXPORT_FIELDS]
    # The catalogue shares the msgid "title" with a post's job title (职务); a case has a 标题.
    headers[EXPORT_FIELDS.index("title")] = _("Title")
    sheet.append([*headers, pgettext("subject request", "This resident")])
    for case in cases:
        if case.pk not in reported:
            case.contact_name = case.contact_phone = case.contact_email = ""
        sheet.append(
            [
                case.number,
                _local(case.reported_at),
                case.get_status_display(),
                case.category.name,
                case.grid.name,
                case.address,
                case.title,
                case.description,
                case.contact_name,
                case.contact_phone,
                case.contact_email,
                case.result,
                case.get_rating_display() if case.rating else "",
                case.rating_comment,
                _local(case.closed_at),
                pgettext("subject request", "reported it")
                if case.pk in reported
                else pgettext("subject request", "follows it"),
            ]
        )
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def export_view(admin_site):
    @require_POST
    def view(request):
        _officer_only(request)
        form, contact = _valid_contact(request)
        if contact is None:
            return _page(request, admin_site, form=form, status=400)
        cases = list(privacy.subject_cases(contact))
        reported = set(privacy.cases_with_contact(contact).values_list("pk", flat=True))
        content = _workbook(cases, contact, reported)
        privacy.record_subject_export(actor=request.user, contact=contact, count=len(cases))
        response = HttpResponse(content, content_type=XLSX)
        # The file name carries no part of the contact: downloads folders and proxies log it.
        response["Content-Disposition"] = f'attachment; filename="subject-request-{timezone.localdate():%Y%m%d}.xlsx"'
        response["Cache-Control"] = "no-store"
        return response

    return view


def erase_view(admin_site):
    @require_POST
    def view(request):
        _officer_only(request)
        form, contact = _valid_contact(request)
        if contact is None:
            return _page(request, admin_site, form=form, status=400)
        if request.POST.get("confirmed") != "yes":
            cases = privacy.find_subject_cases(actor=request.user, contact=contact)
            return _page(request, admin_site, form=form, contact=contact, cases=cases, confirm=True)
        count = privacy.erase_subject_contact(actor=request.user, contact=contact)
        messages.success(
            request,
            ngettext(
                "The contact %(contact)s was erased from %(n)d case.",
                "The contact %(contact)s was erased from %(n)d cases.",
                count,
            )
            % {"contact": contact.masked, "n": count},
        )
        # Redirect after the POST; the contact stays out of the URL.
        return redirect("admin:cases_case_subject_request")

    return view


def urls(admin_site):
    """The custom URLs of the case admin (cases/admin.py), each behind the admin's login."""
    wrap = admin_site.admin_view
    return [
        path("subject-request/", wrap(search_view(admin_site)), name="cases_case_subject_request"),
        path("subject-request/export/", wrap(export_view(admin_site)), name="cases_case_subject_request_export"),
        path("subject-request/erase/", wrap(erase_view(admin_site)), name="cases_case_subject_request_erase"),
    ]
