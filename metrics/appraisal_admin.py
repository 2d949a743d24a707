"""Admin pages of the appraisal (考核) and accountability (问责): rules, recorded months, scores that open to
their parts, appeals, streets' ratings of departments, accountability records and their decisions.

Every queryset is narrowed by accounts.scope (metrics.appraisal.visible_q, metrics.accountability.visible_q);
every write goes through a service that checks who may do it again."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from cases.models import Case
from gov_platform.admin_readonly import ReadOnlyAdminMixin
from gov_platform.admin_singleton import SingletonAdminMixin
from gov_platform.errors import add_service_errors
from grids.models import Area, Department

from . import accountability, appraisal, year_summary
from .admin_record import RecordMonthAdminMixin
from .exports import XLSX
from .forms import resolve_month
from .models import (
    AccountabilityDecision,
    AccountabilityRecord,
    AccountabilitySource,
    AppealStatus,
    AppraisalAppeal,
    AppraisalRules,
    AppraisalRun,
    AppraisalScore,
    AppraisalTier,
    DepartmentRating,
)

FORM_PAGE = "admin/metrics/form_page.html"


def form_page(request, admin, *, title, form, submit, intro="", status=None, extra=None):
    context = {
        **admin.admin_site.each_context(request),
        "opts": admin.model._meta,
        "title": title,
        "intro": intro,
        "form": form,
        "submit": submit,
        **(extra or {}),
    }
    return TemplateResponse(request, FORM_PAGE, context, status=status or (400 if form.errors else 200))


# --- rules and recorded months ------------------------------------------------------
@admin.register(AppraisalRules)
class AppraisalRulesAdmin(SingletonAdminMixin, admin.ModelAdmin):
    allowed_lookups = ()
    fieldsets = [
        (
            _("Weights of the figures"),
            {
                "fields": [
                    "on_time_weight",
                    "satisfaction_weight",
                    "closure_weight",
                    "rework_weight",
                    "misdispatch_weight",
                    "safety_weight",
                    "visit_weight",
                    "street_rating_weight",
                ],
                "description": _(
                    "A part counts with its weight when the unit has its figure; the points are scaled to 100 over "
                    "the parts counted. Recorded months keep the rules they were computed under."
                ),
            },
        ),
        (
            _("Deductions"),
            {
                "fields": [
                    "red_escalation_deduction",
                    "red_escalation_cap",
                    "accountability_deduction",
                    "accountability_cap",
                ]
            },
        ),
    ]

    def save_model(self, request, obj, form, change):
        appraisal.save_rules(actor=request.user, rules=obj)


@admin.register(AppraisalRun)
class AppraisalRunAdmin(RecordMonthAdminMixin, admin.ModelAdmin):
    """The recorded months. Recording is a form (a month and whether to replace it) and an action."""

    allowed_lookups = ()
    list_display = ["__str__", "computed_at", "computed_by", "units", "scores_link"]
    readonly_fields = ["month", "computed_at", "computed_by", "units", "parameters"]
    change_list_template = "admin/metrics/appraisalrun/change_list.html"
    actions = ["record_again"]
    record_exists = appraisal.AppraisalExists

    @admin.display(description=_("scores"))
    def scores_link(self, obj):
        url = reverse("admin:metrics_appraisalscore_changelist") + f"?run__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, gettext("Scores"))

    def record_month(self, *, actor, month, force):
        return appraisal.record_month(actor=actor, month=month, force=force)

    def recorded_message(self, run):
        return gettext("Recorded the appraisal of %(month)s.") % {"month": run}

    def record_page(self, request, form):
        return form_page(
            request,
            self,
            title=gettext("Record a month of the appraisal"),
            form=form,
            intro=gettext(
                "Every street, community, department and grid worker is scored for the month from the KPI "
                "roll-ups, the recorded safety index, the streets' ratings, red escalations and accountability "
                "decisions, under the current rules, and stored with a copy of them. Beat records last month on "
                "the 1st, after the safety index."
            ),
            submit=gettext("Record"),
        )

    @admin.action(description=_("Record again under the current rules (replaces the month)"), permissions=["record"])
    def record_again(self, request, queryset):
        done = 0
        for month in list(queryset.values_list("month", flat=True)):
            try:
                appraisal.record_month(actor=request.user, month=month, force=True)
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
            else:
                done += 1
        messages.success(request, gettext("Recorded %(n)d months again.") % {"n": done})


# --- scores ---------------------------------------------------------------------------
class ScopedTierFilter(admin.SimpleListFilter):
    title = _("tier")
    parameter_name = "tier"

    def lookups(self, request, model_admin):
        return AppraisalTier.choices

    def queryset(self, request, queryset):
        return queryset.filter(tier=self.value()) if self.value() in AppraisalTier.values else queryset


def parts_table(score: AppraisalScore):
    """The score's parts: which figure, its value, its weight, the points it gave (deductions below)."""
    rows = []
    for part in score.parts:
        label = appraisal.part_label(part["key"])
        if "count" in part:
            shown, weight = str(part["count"]), "—"
        else:
            value = part.get("value")
            if value is None:
                shown = gettext("no figure")
            elif part["key"] in ("safety", "street_rating"):
                shown = value
            else:
                shown = f"{value}% ({part.get('numerator', 0)}/{part.get('denominator', 0)})"
            weight = part.get("weight", "")
        rows.append((label, shown, weight, part.get("points") if part.get("points") is not None else "—"))
    body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows)
    return format_html(
        '<table class="appraisal-parts"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>'
        '<tbody>{}</tbody><tfoot><tr><th colspan="3">{}</th><th>{}</th></tr></tfoot></table>',
        gettext("Part"),
        gettext("Figure"),
        gettext("Weight"),
        gettext("Points"),
        body,
        gettext("Score"),
        score.score if score.score is not None else "—",
    )


class AppealForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=2000, widget=forms.Textarea(attrs={"rows": 4}))


class DecideForm(forms.Form):
    outcome = forms.ChoiceField(
        label=_("Decision"),
        choices=[("kept", _("Keep the score")), ("corrected", _("Correct the score"))],
        widget=forms.RadioSelect,
    )
    corrected_score = forms.DecimalField(
        label=_("Corrected score"), required=False, max_digits=6, decimal_places=2, min_value=0, max_value=100
    )
    decision = forms.CharField(
        label=_("Decision and grounds"), max_length=2000, widget=forms.Textarea(attrs={"rows": 4})
    )


@admin.register(AppraisalScore)
class AppraisalScoreAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    allowed_lookups = ("run__id__exact",)
    list_display = ["unit_name", "tier", "month_label", "score", "rank", "change", "appeal_state"]
    list_filter = [ScopedTierFilter, "run"]
    search_fields = ["unit_name", "unit_code"]
    ordering = ["-month", "tier", "rank"]
    readonly_fields = ["month_label", "tier", "unit_name", "unit_code", "score_line", "rank", "change", "parts_view"]
    fields = readonly_fields
    change_form_template = "admin/metrics/appraisalscore/change_form.html"
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).filter(appraisal.visible_q(request.user)).select_related("appeal", "run")

    @admin.display(description=_("month"), ordering="month")
    def month_label(self, obj):
        return f"{obj.month:%Y-%m}"

    @admin.display(description=_("score"))
    def score_line(self, obj):
        if obj.score is None:
            return "—"
        text = gettext("%(score)s = %(base)s points from figures − %(deductions)s deductions") % {
            "score": obj.score,
            "base": obj.base,
            "deductions": obj.deductions,
        }
        if obj.corrected:
            text += " · " + gettext("corrected on appeal from %(score)s") % {"score": obj.computed_score}
        return text

    @admin.display(description=_("parts"))
    def parts_view(self, obj):
        return parts_table(obj)

    @admin.display(description=_("appeal"))
    def appeal_state(self, obj):
        appeal = getattr(obj, "appeal", None)
        return appeal.get_status_display() if appeal else "—"

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/appeal/", wrap(self.appeal_view), name="metrics_appraisalscore_appeal"),
            path("summary/", wrap(self.summary_view), name="metrics_appraisalscore_summary"),
            *super().get_urls(),
        ]

    def summary_view(self, request):
        """The unit's year for 述职评议: a printable page, or ``&format=xlsx`` the workbook."""
        tier, unit = request.GET.get("tier", ""), request.GET.get("unit", "")
        try:
            year = int(request.GET.get("year", ""))
        except ValueError:
            return HttpResponseBadRequest(gettext("year: give a year, e.g. 2026."))
        if tier not in AppraisalTier.values or not unit:
            return HttpResponseBadRequest(gettext("tier and unit: name the appraised unit."))
        result = year_summary.summary(user=request.user, tier=tier, unit_key=unit, year=year)
        if request.GET.get("format") == "xlsx":
            response = HttpResponse(year_summary.workbook(result), content_type=XLSX)
            response["Content-Disposition"] = f'attachment; filename="appraisal-{result.unit_code}-{year}.xlsx"'
            return response
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Year summary for the annual review"),
            "summary": result,
            "printed_at": timezone.now(),
            "xlsx_url": request.get_full_path() + "&format=xlsx",
        }
        return TemplateResponse(request, "admin/metrics/year_summary.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        score = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if score is not None:
            appeal = AppraisalAppeal.objects.filter(score=score).first()
            extra.update(
                appeal=appeal,
                may_appeal=appeal is None and appraisal.may_appeal(request.user, score),
                may_decide=appeal is not None
                and appeal.status == AppealStatus.PENDING
                and appraisal.may_decide(request.user, score),
                summary_url=year_summary.url_for(score),
            )
        return super().change_view(request, object_id, form_url, extra)

    def appeal_view(self, request, pk):
        score = get_object_or_404(self.get_queryset(request), pk=pk)
        if not appraisal.may_appeal(request.user, score):
            raise PermissionDenied
        form = AppealForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                appraisal.file_appeal(actor=request.user, score=score, reason=form.cleaned_data["reason"])
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, gettext("The appeal has gone to the district."))
                return redirect(reverse("admin:metrics_appraisalscore_change", args=[score.pk]))
        return form_page(
            request,
            self,
            title=gettext("Appeal the appraisal of %(unit)s, %(month)s")
            % {"unit": score.unit_name, "month": f"{score.month:%Y-%m}"},
            form=form,
            intro=gettext("The district decides: the score is kept or corrected, and the decision is recorded."),
            submit=gettext("Appeal"),
            extra={"parts": parts_table(score)},
        )


@admin.register(AppraisalAppeal)
class AppraisalAppealAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    allowed_lookups = ()
    list_display = ["score", "status", "filed_by", "filed_at", "decided_by", "decided_at"]
    list_filter = ["status"]
    readonly_fields = [
        "score",
        "reason",
        "filed_by",
        "filed_at",
        "status",
        "score_before",
        "corrected_score",
        "decision",
        "decided_by",
        "decided_at",
    ]
    fields = readonly_fields
    change_form_template = "admin/metrics/appraisalappeal/change_form.html"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(appraisal.visible_q(request.user, prefix="score__"))
            .select_related("score", "filed_by", "decided_by")
        )

    def get_urls(self):
        return [
            path(
                "<int:pk>/decide/", self.admin_site.admin_view(self.decide_view), name="metrics_appraisalappeal_decide"
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        appeal = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if appeal is not None:
            extra["may_decide"] = appeal.status == AppealStatus.PENDING and appraisal.may_decide(
                request.user, appeal.score
            )
        return super().change_view(request, object_id, form_url, extra)

    def decide_view(self, request, pk):
        appeal = get_object_or_404(self.get_queryset(request), pk=pk)
        if not appraisal.may_decide(request.user, appeal.score):
            raise PermissionDenied
        form = DecideForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                appraisal.decide_appeal(
                    actor=request.user,
                    appeal=appeal,
                    corrected=data["outcome"] == "corrected",
                    decision=data["decision"],
                    corrected_score=data.get("corrected_score"),
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, gettext("The appeal is decided."))
                return redirect(reverse("admin:metrics_appraisalappeal_change", args=[appeal.pk]))
        return form_page(
            request,
            self,
            title=gettext("Decide the appeal of %(score)s") % {"score": appeal.score},
            form=form,
            intro=appeal.reason,
            submit=gettext("Decide"),
            extra={"parts": parts_table(appeal.score)},
        )


# --- streets rate departments --------------------------------------------------------
class RatingForm(forms.Form):
    street = forms.ModelChoiceField(label=_("Street"), queryset=Area.objects.none())
    month = forms.CharField(label=_("Month (YYYY-MM)"), max_length=7)
    department = forms.ModelChoiceField(label=_("Department"), queryset=Department.objects.none())
    stars = forms.TypedChoiceField(
        label=_("Rating"), coerce=int, choices=[(n, str(n)) for n in range(5, 0, -1)], widget=forms.RadioSelect
    )
    comment = forms.CharField(
        label=_("Comment"), required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        streets = appraisal.rating_streets(user)
        self.fields["street"].queryset = Area.objects.filter(pk__in=[s.pk for s in streets])
        if len(streets) == 1:
            self.fields["street"].initial = streets[0].pk
        self.fields["department"].queryset = Department.objects.order_by("name")

    def clean_month(self):
        try:
            return resolve_month(self.cleaned_data.get("month"))
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["month"]) from exc


@admin.register(DepartmentRating)
class DepartmentRatingAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    allowed_lookups = ()
    list_display = ["month_label", "street", "department", "stars", "comment", "rated_by", "rated_at"]
    list_filter = ["month"]
    readonly_fields = ["month", "street", "department", "stars", "comment", "rated_by", "rated_at"]
    fields = readonly_fields
    change_list_template = "admin/metrics/departmentrating/change_list.html"

    def get_queryset(self, request):
        scope = request.user.scope
        qs = super().get_queryset(request).select_related("street", "department", "rated_by")
        if scope.is_global:
            return qs
        return qs.filter(scope.case_path_q("street__path") | Q(department_id__in=scope.department_ids))

    @admin.display(description=_("month"), ordering="month")
    def month_label(self, obj):
        return f"{obj.month:%Y-%m}"

    def may_rate(self, request):
        return request.user.has_perm("metrics.add_departmentrating") and bool(appraisal.rating_streets(request.user))

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), "may_rate": self.may_rate(request)})

    def get_urls(self):
        return [
            path("rate/", self.admin_site.admin_view(self.rate_view), name="metrics_departmentrating_rate"),
            *super().get_urls(),
        ]

    def rate_view(self, request):
        if not self.may_rate(request):
            raise PermissionDenied
        form = RatingForm(request.POST or None, user=request.user)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                appraisal.rate_department(
                    actor=request.user,
                    street=data["street"],
                    department=data["department"],
                    month=data["month"],
                    stars=data["stars"],
                    comment=data["comment"],
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, gettext("The rating is saved."))
                return redirect(reverse("admin:metrics_departmentrating_changelist"))
        return form_page(
            request,
            self,
            title=gettext("Rate a department"),
            form=form,
            intro=gettext(
                "Rate each department that handled your street's cases in the month, 1 (poor) to 5 (excellent). "
                "Rating again replaces your rating until the month's appraisal is recorded."
            ),
            submit=gettext("Save the rating"),
        )


# --- accountability ----------------------------------------------------------------
@admin.register(AccountabilityDecision)
class AccountabilityDecisionAdmin(admin.ModelAdmin):
    allowed_lookups = ()
    list_display = ["name", "order", "is_active"]
    list_editable = ["order", "is_active"]
    fields = ["name", "order", "is_active"]

    def has_delete_permission(self, request, obj=None):
        # Records keep their decision: a decision goes out of use instead.
        return False


class OpenRecordForm(forms.Form):
    source = forms.ChoiceField(label=_("Found through"), choices=AccountabilitySource.choices)
    case_number = forms.CharField(label=_("Case number"), required=False, max_length=20)
    area = forms.ModelChoiceField(label=_("Area concerned"), required=False, queryset=Area.objects.none())
    department = forms.ModelChoiceField(
        label=_("Department concerned"), required=False, queryset=Department.objects.none()
    )
    person = forms.CharField(
        label=_("Person concerned (username)"), required=False, max_length=150, help_text=_("Optional.")
    )
    finding = forms.CharField(label=_("Finding"), max_length=4000, widget=forms.Textarea(attrs={"rows": 4}))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["area"].queryset = user.scope.areas(
            Area.objects.filter(tier__in=accountability.UNIT_TIERS)
        ).order_by("path")
        self.fields["department"].queryset = user.scope.departments().order_by("name")

    def clean_case_number(self):
        number = self.cleaned_data.get("case_number", "").strip()
        if not number:
            return None
        case = Case.objects.filter(number=number).first()
        if case is None:
            raise ValidationError(gettext("No case has this number."))
        return case

    def clean_person(self):
        username = self.cleaned_data.get("person", "").strip()
        if not username:
            return None
        person = User.objects.filter(username=username, is_active=True).first()
        if person is None:
            raise ValidationError(gettext("No active user has this username."))
        return person


class DecideRecordForm(forms.Form):
    verification = forms.CharField(
        label=_("Verification (查核)"), max_length=4000, widget=forms.Textarea(attrs={"rows": 4})
    )
    decision = forms.ModelChoiceField(
        label=_("Decision"), queryset=AccountabilityDecision.objects.filter(is_active=True)
    )


@admin.register(AccountabilityRecord)
class AccountabilityRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    allowed_lookups = ()
    list_display = ["opened_at", "unit_label", "person", "source", "decision", "decided_at", "acknowledged_at"]
    list_filter = ["source", "decision"]
    readonly_fields = [
        "source",
        "case",
        "unit_label",
        "person",
        "finding",
        "verification",
        "decision",
        "opened_by",
        "opened_at",
        "decided_by",
        "decided_at",
        "acknowledged_by",
        "acknowledged_at",
    ]
    fields = readonly_fields
    change_form_template = "admin/metrics/accountabilityrecord/change_form.html"
    change_list_template = "admin/metrics/accountabilityrecord/change_list.html"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(accountability.visible_q(request.user))
            .select_related("area", "department", "person", "decision", "case")
        )

    @admin.display(description=_("unit concerned"))
    def unit_label(self, obj):
        return obj.unit_name

    def may_open_any(self, request):
        return request.user.has_perm("metrics.add_accountabilityrecord") and (
            request.user.is_superuser or bool(appraisal.district_paths(request.user))
        )

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), "may_open": self.may_open_any(request)})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        rec = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if rec is not None:
            extra.update(
                may_decide=rec.decision_id is None and accountability.may_decide(request.user, rec),
                may_acknowledge=accountability.may_acknowledge(request.user, rec),
            )
        return super().change_view(request, object_id, form_url, extra)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("open/", wrap(self.open_view), name="metrics_accountabilityrecord_open"),
            path("<int:pk>/decide/", wrap(self.decide_view), name="metrics_accountabilityrecord_decide"),
            path("<int:pk>/acknowledge/", wrap(self.acknowledge_view), name="metrics_accountabilityrecord_acknowledge"),
            *super().get_urls(),
        ]

    def open_view(self, request):
        if not self.may_open_any(request):
            raise PermissionDenied
        initial = {k: request.GET[k] for k in ("source", "case_number", "area", "department") if k in request.GET}
        form = OpenRecordForm(request.POST or None, user=request.user, initial=initial)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                rec = accountability.open_record(
                    actor=request.user,
                    source=data["source"],
                    finding=data["finding"],
                    area=data.get("area"),
                    department=data.get("department"),
                    person=data.get("person"),
                    case=data.get("case_number"),
                )
            except ValidationError as exc:
                add_service_errors(form, exc, renamed={"case": "case_number"})
            else:
                messages.success(request, gettext("The accountability record is opened."))
                return redirect(reverse("admin:metrics_accountabilityrecord_change", args=[rec.pk]))
        return form_page(
            request,
            self,
            title=gettext("Open an accountability record"),
            form=form,
            intro=gettext(
                "From a case escalated to the district, a case reworked past the limit, or a unit repeatedly "
                "overdue. The record is never public; the unit concerned sees and acknowledges it."
            ),
            submit=gettext("Open"),
        )

    def decide_view(self, request, pk):
        rec = get_object_or_404(self.get_queryset(request), pk=pk)
        if not accountability.may_decide(request.user, rec):
            raise PermissionDenied
        form = DecideRecordForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                accountability.decide(
                    actor=request.user,
                    rec=rec,
                    verification=form.cleaned_data["verification"],
                    decision=form.cleaned_data["decision"],
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, gettext("The decision is recorded."))
                return redirect(reverse("admin:metrics_accountabilityrecord_change", args=[rec.pk]))
        return form_page(
            request,
            self,
            title=gettext("Verify and decide: %(record)s") % {"record": rec},
            form=form,
            intro=rec.finding,
            submit=gettext("Decide"),
        )

    def acknowledge_view(self, request, pk):
        rec = get_object_or_404(self.get_queryset(request), pk=pk)
        if request.method != "POST":
            return redirect(reverse("admin:metrics_accountabilityrecord_change", args=[rec.pk]))
        try:
            accountability.acknowledge(actor=request.user, rec=rec)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, gettext("Acknowledged."))
        return redirect(reverse("admin:metrics_accountabilityrecord_change", args=[rec.pk]))
