"""The back office for mediation records (调解): open one from a dispute case, keep its parties and sessions,
record the follow-up visit; the outcome is a step on the case page. The parties are shown in full only to the
mediators and the dispatcher (cases/mediation.py), masked to everyone else, here, on the case page and in
the export."""

import io

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, pgettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _
from openpyxl import Workbook

from accounts.models import User
from gov_platform import spreadsheets
from gov_platform.admin_readonly import ReadOnlyInlineMixin
from gov_platform.errors import add_service_errors
from gov_platform.masking import mask_name, mask_phone
from grids.models import ancestor_path_at

from . import mediation, rules
from .models import Case, Mediation, MediationParty, MediationSession, Status


def visible_mediations(user):
    """Records of the cases this user sees (the one scope, through the cases' rule)."""
    return Mediation.objects.filter(case__in=Case.objects.filter(rules.visible_q(user)).values("pk"))


def mediator_choices(case: Case | None):
    """People who may mediate a case: anyone with a post in its street (its staff, grid workers, street
    leaders) or in a department (the police station for 警民联调)."""
    users = User.objects.filter(is_active=True, posts__isnull=False)
    if case is not None:
        street = ancestor_path_at(case.area_path, "street") or case.area_path
        users = users.filter(
            Q(posts__area__path__startswith=street)
            | Q(posts__area__path__in=[p for p in (ancestor_path_at(case.area_path, "district"),) if p])
            | Q(posts__department__isnull=False)
        )
    return users.distinct().order_by("username")


class MediationForm(forms.ModelForm):
    class Meta:
        model = Mediation
        fields = ["case", "kind", "mediators", "followed_up_at", "follow_up_note"]
        widgets = {"followed_up_at": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.request
        if "case" in self.fields:
            waiting = Case.objects.filter(
                rules.visible_q(request.user),
                category__requires_mediation=True,
                mediation__isnull=True,
            ).exclude(status__in=[Status.DISMISSED, Status.RATED, Status.CLOSED])
            self.fields["case"].queryset = waiting.order_by("-pk")
            chosen = request.GET.get("case") or self.data.get("case")
            case = waiting.filter(pk=chosen).first() if str(chosen or "").isdigit() else None
            self.fields["mediators"].queryset = mediator_choices(case)
        elif "mediators" in self.fields:
            self.fields["mediators"].queryset = mediator_choices(self.instance.case)

    def clean(self):
        data = super().clean()
        case = data.get("case") or (self.instance.case if self.instance.pk else None)
        if case is not None and data.get("mediators") is not None and "mediators" not in self.errors:
            try:
                mediation.check_mediators(case, data["mediators"])
            except ValidationError as exc:
                add_service_errors(self, exc)
        return data


class PartyFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        kept = [
            f for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE") and f.cleaned_data.get("name")
        ]
        if len(kept) < 2:
            raise forms.ValidationError(gettext("A dispute has at least two parties."))


class PartyInline(admin.TabularInline):
    """The parties, in full: only for the mediators and the dispatcher (MediationAdmin.get_inlines)."""

    model = MediationParty
    formset = PartyFormSet
    extra = 2
    fields = ["name", "phone"]
    verbose_name_plural = _("parties")


class MaskedPartyInline(ReadOnlyInlineMixin, admin.TabularInline):
    """The parties as everyone else reads them: masked."""

    model = MediationParty
    extra = 0
    can_delete = False
    fields = ["masked_name", "masked_phone"]
    readonly_fields = fields
    verbose_name_plural = _("parties")

    @admin.display(description=_("name"))
    def masked_name(self, obj):
        return mask_name(obj.name)

    @admin.display(description=_("phone"))
    def masked_phone(self, obj):
        return mask_phone(obj.phone) if obj.phone else ""


class SessionInline(admin.TabularInline):
    model = MediationSession
    extra = 1
    fields = ["date", "place", "agreed", "recorded_by"]
    readonly_fields = ["recorded_by"]
    verbose_name_plural = _("mediation sessions")

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "date":
            kwargs["widget"] = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
        if db_field.name == "agreed":
            kwargs["widget"] = forms.Textarea(attrs={"rows": 2, "cols": 50})
        return super().formfield_for_dbfield(db_field, request, **kwargs)


class ReadOnlySessionInline(ReadOnlyInlineMixin, SessionInline):
    extra = 0
    can_delete = False
    readonly_fields = SessionInline.fields


class MediationAdmin(admin.ModelAdmin):
    form = MediationForm
    list_display = ["case_number", "case_title", "kind", "outcome", "opened_at", "follow_up_due", "followed_up_at"]
    list_filter = ["kind", "outcome", "opened_at"]
    list_select_related = ["case"]
    search_fields = ["case__number"]
    search_help_text = _("Case number.")
    allowed_lookups = ()
    actions = ["export_xlsx"]
    readonly_fields = [
        "case_link",
        "outcome",
        "outcome_note",
        "outcome_by",
        "outcome_at",
        "agreement_link",
        "follow_up_due",
        "follow_up_reminded_at",
        "opened_by",
        "opened_at",
    ]

    # --- who sees which record: the cases' scope; a record outside it is refused (403) ---
    def get_queryset(self, request):
        return visible_mediations(request.user).select_related("case")

    def get_object(self, request, object_id, from_field=None):
        found = super().get_object(request, object_id, from_field)
        if found is None and str(object_id).isdigit() and Mediation.objects.filter(pk=object_id).exists():
            raise PermissionDenied
        return found

    def has_change_permission(self, request, obj=None):
        if obj is None:
            return super().has_change_permission(request)
        return super().has_change_permission(request, obj) and mediation.may_edit(obj, request.user)

    def has_delete_permission(self, request, obj=None):
        return False

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ["case", "kind", "mediators"]})]
        return [
            (None, {"fields": ["case_link", "kind", "mediators", "opened_by", "opened_at"]}),
            (_("Outcome"), {"fields": ["outcome", "outcome_note", "outcome_by", "outcome_at", "agreement_link"]}),
            (
                _("Follow-up visit"),
                {"fields": ["follow_up_due", "follow_up_reminded_at", "followed_up_at", "follow_up_note"]},
            ),
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        fields = list(self.readonly_fields)
        if not obj.outcome:
            # The visit follows the outcome.
            fields += ["followed_up_at", "follow_up_note"]
        return fields

    def get_inlines(self, request, obj):
        if obj is not None and not mediation.may_see_parties(obj, request.user):
            return [MaskedPartyInline, ReadOnlySessionInline]
        return [PartyInline, SessionInline]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.request = request
        return form

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        if str(request.GET.get("case", "")).isdigit():
            initial["case"] = request.GET["case"]
        return initial

    # --- saving goes through cases/mediation.py ---
    def save_model(self, request, obj, form, change):
        """Nothing yet: the record, its parties and sessions are written together in save_related."""

    def save_related(self, request, form, formsets, change):
        parties = next(f for f in formsets if f.model is MediationParty)
        sessions = next(f for f in formsets if f.model is MediationSession)
        data = form.cleaned_data
        try:
            if not change:
                record = mediation.open_mediation(
                    actor=request.user,
                    case=data["case"],
                    kind=data["kind"],
                    mediators=data["mediators"],
                    parties=[
                        (f.cleaned_data.get("name"), f.cleaned_data.get("phone"))
                        for f in parties.forms
                        if f.cleaned_data and not f.cleaned_data.get("DELETE")
                    ],
                )
                form.instance.pk, form.instance.case = record.pk, record.case
            else:
                record = form.instance
                if not mediation.may_edit(record, request.user):
                    raise PermissionDenied
                record.kind = data["kind"]
                Mediation.objects.filter(pk=record.pk).update(kind=record.kind)
                record.mediators.set(data["mediators"])
                parties.save()
                if {"followed_up_at", "follow_up_note"} & set(form.changed_data):
                    mediation.record_follow_up(
                        actor=request.user,
                        mediation=record,
                        date=data.get("followed_up_at"),
                        note=data.get("follow_up_note"),
                    )
            for session_form in sessions.forms:
                cleaned = session_form.cleaned_data
                if not cleaned or cleaned.get("DELETE") or not session_form.has_changed():
                    continue
                if session_form.instance.pk:
                    session_form.save()
                else:
                    mediation.add_session(
                        actor=request.user,
                        mediation=record,
                        date=cleaned.get("date"),
                        place=cleaned.get("place"),
                        agreed=cleaned.get("agreed"),
                    )
            for formset in formsets:
                # Read by the admin's change message; rows written through the services are not listed.
                for name in ("new_objects", "changed_objects", "deleted_objects"):
                    if not hasattr(formset, name):
                        setattr(formset, name, [])
        except ValidationError as exc:
            # The page was valid as a form; the service's refusal comes back as a message, nothing kept.
            messages.error(request, " ".join(exc.messages))
            raise _Refused from exc

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except _Refused:
            return redirect(request.get_full_path())

    def response_add(self, request, obj, post_url_continue=None):
        messages.success(request, gettext("Mediation record opened for case %(number)s.") % {"number": obj.case.number})
        return redirect(reverse("admin:cases_case_change", args=[obj.case_id]))

    # --- columns ---
    @admin.display(description=_("case number"), ordering="case__number")
    def case_number(self, obj):
        return obj.case.number

    @admin.display(description=_("Title"))
    def case_title(self, obj):
        return obj.case.title

    @admin.display(description=_("case"))
    def case_link(self, obj):
        return format_html(
            '<a href="{}">{} {}</a>',
            reverse("admin:cases_case_change", args=[obj.case_id]),
            obj.case.number,
            obj.case.title,
        )

    @admin.display(description=_("mediation agreement"))
    def agreement_link(self, obj):
        if not obj.agreement:
            return "—"
        viewer = getattr(self, "_viewer", None)
        if viewer is None or not mediation.may_see_parties(obj, viewer):
            return gettext("On file (shown to the mediators and the dispatcher)")
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:cases_mediation_agreement", args=[obj.pk]), gettext("Download")
        )

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        self._viewer = request.user
        return super().render_change_form(request, context, add, change, form_url, obj)

    # --- the agreement, only to those who read the parties ---
    def get_urls(self):
        return [
            path(
                "<int:pk>/agreement/",
                self.admin_site.admin_view(self.agreement_view),
                name="cases_mediation_agreement",
            )
        ] + super().get_urls()

    def agreement_view(self, request, pk):
        record = visible_mediations(request.user).filter(pk=pk).first()
        if record is None or not record.agreement:
            raise Http404
        if not mediation.may_see_parties(record, request.user):
            raise PermissionDenied
        name = f"agreement-{record.case.number}{'.pdf' if record.agreement.name.endswith('.pdf') else '.jpg'}"
        return FileResponse(record.agreement.open("rb"), as_attachment=True, filename=name)

    # --- export: the parties masked row by row for whoever may not read them ---
    @admin.action(description=_("Export the selected records to Excel"), permissions=["view"])
    def export_xlsx(self, request, queryset):
        rows = []
        for record in queryset.select_related("case").prefetch_related("parties", "mediators", "sessions"):
            parties = mediation.parties_for(record, request.user)
            rows.append(
                [
                    record.case.number,
                    record.case.title,
                    record.get_kind_display(),
                    "、".join(u.get_full_name() for u in record.mediators.all()),
                    "、".join(f"{p['name']} {p['phone']}".strip() for p in parties),
                    len(record.sessions.all()),
                    record.get_outcome_display() if record.outcome else "",
                    record.follow_up_due,
                    record.followed_up_at,
                ]
            )
        workbook = Workbook(write_only=True)
        sheet = spreadsheets.new_sheet(workbook, pgettext("mediation export", "Mediation records"))
        sheet.append([str(heading) for heading in EXPORT_HEADINGS])
        for row in rows:
            sheet.append(row)
        buffer = io.BytesIO()
        workbook.save(buffer)
        response = HttpResponse(buffer.getvalue(), content_type=XLSX)
        response["Content-Disposition"] = f'attachment; filename="mediation-{timezone.localdate():%Y%m%d}.xlsx"'
        response["Cache-Control"] = "no-store"
        return response


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Written out with pgettext_noop so makemessages finds them; translated when the file is written.
EXPORT_HEADINGS = [
    pgettext_lazy("mediation export", "Case number"),
    pgettext_lazy("mediation export", "Case title"),
    pgettext_lazy("mediation export", "Kind"),
    pgettext_lazy("mediation export", "Mediators"),
    pgettext_lazy("mediation export", "Parties"),
    pgettext_lazy("mediation export", "Sessions"),
    pgettext_lazy("mediation export", "Outcome"),
    pgettext_lazy("mediation export", "Follow-up visit due"),
    pgettext_lazy("mediation export", "Follow-up visit made on"),
]


class _Refused(Exception):
    """A service refused what the page asked for: the transaction is rolled back, the page shown again."""


def mediation_summary(case: Case, viewer) -> str:
    """The case page's mediation line: the record's outcome and link, or the button that opens one."""
    record = Mediation.objects.filter(case=case).first()
    if record is None:
        if mediation.may_open(case, viewer):
            return format_html(
                '<a class="button" href="{}?case={}">{}</a> <span class="quiet">{}</span>',
                reverse("admin:cases_mediation_add"),
                case.pk,
                gettext("Open the mediation record"),
                gettext("A dispute case is handled only once its mediation has an outcome."),
            )
        return gettext("No mediation record yet.")
    parties = mediation.parties_for(record, viewer)
    outcome = record.get_outcome_display() if record.outcome else gettext("no outcome yet")
    return format_html(
        '<a href="{}">{}</a> · {} · {}: {}<br><span class="quiet">{}: {}</span>',
        reverse("admin:cases_mediation_change", args=[record.pk]),
        record.get_kind_display(),
        outcome,
        gettext("parties"),
        format_html_join("、", "{} {}", ((p["name"], p["phone"]) for p in parties)),
        gettext("mediators"),
        "、".join(u.get_full_name() for u in record.mediators.all()),
    )


admin.site.register(Mediation, MediationAdmin)


def mediation_panel(case: Case, viewer) -> dict | None:
    """What the case page shows of a dispute's mediation, above its steps; None for other cases."""
    if not case.category.requires_mediation:
        return None
    record = Mediation.objects.filter(case=case).prefetch_related("mediators", "parties", "sessions").first()
    if record is None:
        return {"record": None, "may_open": mediation.may_open(case, viewer), "case": case}
    return {
        "record": record,
        "case": case,
        "parties": mediation.parties_for(record, viewer),
        "masked": not mediation.may_see_parties(record, viewer),
        "mediators": [u.get_full_name() for u in record.mediators.all()],
        "sessions": list(record.sessions.all()),
        "may_edit": mediation.may_edit(record, viewer),
    }
