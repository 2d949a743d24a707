"""The back office for cases: lists with filters, transition pages, escalations, the calendar and settings."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_fsm.admin import FSMAdminMixin

from gov_platform.admin_filters import QuickChoicesMixin, QuickRelatedFieldListFilter
from gov_platform.admin_readonly import ReadOnlyInlineMixin
from gov_platform.admin_rows import QuickRowsMixin
from gov_platform.admin_singleton import SingletonAdminMixin
from gov_platform.errors import add_service_errors
from gov_platform.paginators import CappedCountPaginator
from grids.locator import grid_at_point
from grids.models import Area, Department

from . import (  # noqa: F401 - inspection_admin, external_admin and camera_admin register their admins
    camera_admin,
    extensions,
    external_admin,
    inspection_admin,
    kept_photos,
    mediation_admin,
    response_templates,
    selectors,
    sheet,
    steps,
    subject_requests,
    visit_admin,
)
from .calendar import years_without_calendar
from .contact_log import record_contact_view
from .forms import MultiplePhotoField
from .models import (
    AssistTask,
    Case,
    Category,
    ClockRequest,
    DismissReason,
    Escalation,
    Priority,
    ResponseTemplate,
    Source,
    WorkCalendarDay,
    WorkflowSettings,
)
from .nearby import nearby_open_cases
from .services import (
    CaseStateConflict,
    acknowledge_each,
    acknowledge_escalation,
    assess_and_assign_plan,
    check_transition,
    create_case,
    may_reply_to_supervision,
    may_report_in,
    reply_to_supervision,
    save_workflow_settings,
    transition_case,
    transition_each,
)

DEADLINE_STATES = {
    "red": _("overdue"),
    "yellow": _("due soon"),
    "green": _("on time"),
}


def time_left_text(delta) -> str:
    """Time left ("3 d 4 h left") or past ("overdue 5 h"), to the hour; minutes in the last hour."""
    seconds = int(delta.total_seconds())
    overdue, seconds = seconds < 0, abs(seconds)
    days, hours, minutes = seconds // 86400, seconds % 86400 // 3600, seconds % 3600 // 60
    if days >= 3:
        # Past a few days the hours no longer matter to the reader.
        span = gettext("%(d)d d") % {"d": days}
    elif days:
        span = gettext("%(d)d d %(h)d h") % {"d": days, "h": hours}
    elif hours:
        span = gettext("%(h)d h %(m)d min") % {"h": hours, "m": minutes}
    else:
        span = gettext("%(m)d min") % {"m": minutes}
    return (gettext("overdue %(span)s") if overdue else gettext("%(span)s left")) % {"span": span}


def short_datetime(value) -> str:
    """A list cell's date and time: without the year when it is this year (the column stays narrow)."""
    local = timezone.localtime(value)
    return local.strftime("%m-%d %H:%M" if local.year == timezone.localtime().year else "%Y-%m-%d")


class WaitingFilter(admin.SimpleListFilter):
    """The named views of the case list. A search looks through every case the user may see,
    whatever view is on: a case number typed in "waiting for me" must find the case."""

    title = _("view")
    parameter_name = "view"

    def lookups(self, request, model_admin):
        return [
            ("waiting", _("Waiting for me")),
            ("unit", _("My unit's cases")),
            ("mine", _("Reported by me")),
            ("overdue", _("Overdue")),
            ("all", _("All cases I can see")),
        ]

    def current(self, search_term: str) -> str:
        if search_term.strip():
            return "all"
        return self.value() if self.value() in dict(self.lookup_choices) else "waiting"

    def choices(self, changelist):
        current = self.current(changelist.query)
        for value, label in self.lookup_choices:
            yield {
                "selected": current == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}, remove=["q"]),
                "display": label,
            }

    def queryset(self, request, queryset):
        return selectors.case_view(request.user, queryset, self.current(request.GET.get("q", "")))


class AreaFilter(QuickChoicesMixin, admin.SimpleListFilter):
    # A choice per street and community (~260 for the district): rendered by gov_platform.admin_filters.
    title = _("area")
    parameter_name = "area"

    def lookups(self, request, model_admin):
        # Plain values, not ~260 Area instances on every view of the list.
        rows = selectors.areas_for_filter(request.user).order_by("path").values_list("code", "depth", "name")
        return [(code, ("　" * depth) + name) for code, depth, name in rows]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        area = request.user.scope.areas().filter(code=self.value()).first()
        return selectors.filter_cases(queryset, area=area) if area else queryset.none()


class OverdueFilter(admin.SimpleListFilter):
    title = _("deadline")
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", _("Overdue")), ("no", _("Not overdue"))]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return selectors.filter_cases(queryset, overdue=self.value() == "yes")
        return queryset


class ClockRequestInline(ReadOnlyInlineMixin, admin.TabularInline):
    """Extension and suspension requests (cases/extensions.py), read-only: they change only by the steps."""

    model = ClockRequest
    extra = 0
    can_delete = False
    fields = [
        "kind",
        "status",
        "days",
        "granted_days",
        "review_date",
        "reason",
        "requested_by",
        "requested_at",
        "approving_area",
        "decided_by",
        "decision_comment",
        "deadline",
    ]
    readonly_fields = fields


class AssistTaskInline(ReadOnlyInlineMixin, admin.TabularInline):
    """Joint handling (cases/joint.py): each assisting unit's task, sub-deadline and result, read-only."""

    model = AssistTask
    extra = 0
    can_delete = False
    fields = ["department", "area", "task", "deadline", "status", "result", "done_by", "done_at"]
    readonly_fields = fields
    verbose_name_plural = _("assisting units (协办)")


class EscalationInline(ReadOnlyInlineMixin, admin.TabularInline):
    model = Escalation
    extra = 0
    can_delete = False
    fields = [
        "level",
        "stage",
        "deadline",
        "created_at",
        "notified_names",
        "acknowledged_by",
        "instruction",
        "reply_link",
    ]
    readonly_fields = fields
    verbose_name_plural = _("escalations and supervision")

    may_reply = False

    def get_formset(self, request, obj=None, **kwargs):
        # Inline instances are made per request: the button is offered only to whom the reply page admits.
        self.may_reply = obj is not None and may_reply_to_supervision(request.user, obj)
        return super().get_formset(request, obj, **kwargs)

    @admin.display(description=_("reply"))
    def reply_link(self, obj):
        if obj.acknowledged_at is None or not self.may_reply:
            return ""
        return format_html(
            '<a class="button" href="{}">{}</a>',
            reverse("admin:cases_escalation_reply", args=[obj.pk]),
            gettext("Reply to the supervisor"),
        )


# The add form's kept photos: their batches signed for it alone, thumbnails from the case admin's own URL.
ADD_FORM_PHOTOS = kept_photos.KeptFor(
    salt="cases.admin.add-case.kept-photos", thumbnail_url="admin:cases_case_kept_photo"
)


class CaseAddForm(forms.ModelForm):
    # Kept when the form comes back (cases/kept_photos.py): shown above the input, attached on the final submit.
    photos = MultiplePhotoField(label=_("Photos (before)"), required=False, widget=kept_photos.PhotosInput())
    # Shown once open cases of the category lie near the point: the reporter says theirs is another problem.
    file_anyway = forms.BooleanField(
        label=_("It is another problem: record it anyway"),
        required=False,
        help_text=_("Tick after checking the open cases listed above."),
    )

    class Meta:
        model = Case
        fields = [
            "title",
            "description",
            "category",
            "grid",
            "address",
            "latitude",
            "longitude",
            "source",
            "priority",
            "contact_name",
            "contact_phone",
            "contact_email",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A map point instead of the grid: the one locator (grids.locator) finds it in clean().
        self.fields["grid"].required = False
        self.fields["grid"].help_text = gettext("Or leave it empty and give the latitude and longitude.")
        # A resident's own report comes only through the public form; staff record a resident's
        # phone call or visit as a hotline or patrol case. Posting "resident" is refused as an invalid choice.
        self.fields["source"].choices = [c for c in self.fields["source"].choices if c[0] != Source.RESIDENT]
        # This session's photos for this form: another official's session, or another form, finds none of them.
        self.tray = kept_photos.Tray.of(self.request, ADD_FORM_PHOTOS)
        self.fields["photos"].widget.tray = self.tray

    def clean_grid(self):
        grid = self.cleaned_data["grid"]
        if grid is not None and not may_report_in(self.request.user, grid):
            raise forms.ValidationError(gettext("This grid is outside your area."))
        return grid

    def clean(self):
        data = super().clean()
        lat, lng = data.get("latitude"), data.get("longitude")
        if (lat is None) != (lng is None):
            self.add_error("longitude" if lng is None else "latitude", gettext("Give both or neither."))
        elif data.get("grid") is None and "grid" not in self.errors:
            if lat is None:
                self.add_error("grid", gettext("Choose the grid, or give the latitude and longitude."))
            elif (grid := grid_at_point(lat, lng)) is None:
                self.add_error("latitude", gettext("This point is not inside any grid of the district."))
            elif not may_report_in(self.request.user, grid):
                self.add_error("latitude", gettext("This point is in %(grid)s, outside your area.") % {"grid": grid})
            else:
                data["grid"] = grid
        if lat is not None and lng is not None and data.get("category") and not data.get("file_anyway"):
            self._offer_nearby(data["category"], lat, lng)
        # The ticked photos left out, the new ones kept whatever else is wrong: here, as the admin's add view
        # has no step between validating the form and showing it again.
        self.tray.receive(self)
        return data

    def _offer_nearby(self, category, lat, lng):
        """Open cases of the category near the point, offered before the same problem is recorded twice."""
        nearby = nearby_open_cases(user=self.request.user, category=category, latitude=lat, longitude=lng, limit=5)
        if nearby:
            links = format_html_join(
                "、",
                '<a href="{}" target="_blank">{}</a>（{} m，{}）',
                (
                    (reverse("admin:cases_case_change", args=[c.pk]), c.number, c.distance, c.get_status_display())
                    for c in nearby
                ),
            )
            self.add_error(
                "file_anyway",
                format_html(
                    "{} {}",
                    gettext("Open cases of this category lie near this point:"),
                    links,
                ),
            )


@admin.register(Case)
class CaseAdmin(QuickRowsMixin, FSMAdminMixin, admin.ModelAdmin):
    fsm_fields = ["status"]
    actions = ["bulk_assess_assign", "bulk_dismiss_duplicate"]
    change_form_template = "admin/cases/case/change_form.html"
    list_display = [
        "thumbnail",
        "number",
        "title",
        "status",
        # Time left next to the state: at 1366 px with the navigation open, the last columns scroll away.
        "time_left_display",
        "priority",
        "category",
        # The grid is in the area filter and on the case page; the address says where at a glance.
        "address",
        "handling_unit_display",
    ]
    list_display_links = ["number", "title"]
    list_filter = [
        WaitingFilter,
        "status",
        AreaFilter,
        OverdueFilter,
        ("category", QuickRelatedFieldListFilter),
        "source",
        "priority",
        "reported_at",
    ]
    # The to-do link to extension and suspension requests waiting for a decision.
    allowed_lookups = ("pending_request__in",)
    list_select_related = ["category", "grid", "handling_department", "handling_area"]
    search_fields = ["number"]
    search_help_text = _("Case number, or words of the title or address.")
    list_per_page = 50
    show_full_result_count = False
    paginator = CappedCountPaginator
    date_hierarchy = None
    # Photos and the history are in the work sheet and its timeline; escalations keep their reply buttons.
    inlines = [EscalationInline]

    class Media:
        css = {"all": ["cases/case_list.css"]}

    fieldsets = [
        (
            None,
            {
                "fields": [
                    "number",
                    "status",
                    "title",
                    "description",
                    "category",
                    "grid",
                    "address",
                    "source",
                    "priority",
                ]
            },
        ),
        (_("Reporter"), {"fields": ["reporter", "contact"]}),
        (
            _("Handling"),
            {
                "fields": [
                    "handling_unit_display",
                    "handler",
                    "result",
                    "dismiss_reason",
                    "duplicate_of",
                    "rework_count",
                    "send_back_count",
                ]
            },
        ),
        (_("Rating"), {"fields": ["rating", "rating_comment", "rated_by_phone"]}),
        (
            _("Timeline"),
            {
                "fields": [
                    "reported_at",
                    "assessed_at",
                    "assigned_at",
                    "handled_at",
                    "fed_back_at",
                    "closed_at",
                    "assess_deadline",
                    "handle_deadline",
                    "verify_deadline",
                    "deadline_display",
                ]
            },
        ),
    ]

    # A case changes only through its transitions: every field shown is read-only.
    readonly_fields = [name for _, options in fieldsets for name in options["fields"]]

    # --- lists --------------------------------------------------------------
    def get_queryset(self, request):
        return selectors.case_list_queryset(request.user, super().get_queryset(request), with_photos=True)

    # What a row of the list shows (list_display, the checkbox's label, the deadline's colour): the page's 50
    # rows read these columns only, not the case's sixty and the grid's and units' own (half the rows' time).
    LIST_ROW_FIELDS = (
        "pk",
        "number",
        "title",
        "status",
        "current_deadline",
        "warn_at",
        "priority",
        "category__name",
        "address",
        "handling_department__name",
        "handling_area__name",
    )

    def list_row_queryset(self, queryset):
        return (
            queryset.select_related(None)
            .select_related("category", "handling_department", "handling_area")
            .only(*self.LIST_ROW_FIELDS)
        )

    def get_search_results(self, request, queryset, search_term):
        if not search_term:
            return queryset, False
        return selectors.filter_cases(queryset, search=search_term), False

    def changelist_view(self, request, extra_context=None):
        if request.user.has_perm("cases.change_workcalendarday"):
            for year in years_without_calendar():
                messages.warning(
                    request,
                    gettext(
                        "The work calendar has no entries for %(year)d: enter that year's "
                        "holidays and adjusted working days."
                    )
                    % {"year": year},
                )
        return super().changelist_view(request, extra_context)

    @admin.display(description=_("handling unit"))
    def handling_unit_display(self, obj):
        return obj.handling_department or obj.handling_area or "—"

    @admin.display(description=_("deadline"), ordering="current_deadline")
    def deadline_display(self, obj):
        # "延期至 …" / "挂账至 …" / a request waiting: the moved clock in one short line.
        note = extensions.clock_note(obj)
        if obj.current_deadline is None:
            return note or "—"
        text = timezone.localtime(obj.current_deadline).strftime("%Y-%m-%d %H:%M")
        css = obj.deadline_state
        colour, label = {
            "red": ("#ba2121", gettext("overdue")),
            "yellow": ("#b8860b", gettext("due soon")),
            "green": ("#2e7d32", gettext("on time")),
        }[css]
        return format_html(
            '<span class="deadline-{}" style="color:{};font-weight:bold" title="{}">● {}</span>{}',
            css,
            colour,
            label,
            text,
            format_html('<br><span class="quiet clock-note">{}</span>', note) if note else "",
        )

    @admin.display(description=_("time left"), ordering="current_deadline")
    def time_left_display(self, obj):
        """Time left (or past) on the running clock, coloured at the sweep's points, the deadline below."""
        if obj.current_deadline is None:
            return "—"
        state = obj.deadline_state
        return format_html(
            '<span class="time-left deadline-{}" title="{}">● {}</span><br><span class="quiet time-left-at">{}</span>',
            state,
            DEADLINE_STATES[state],
            time_left_text(obj.current_deadline - timezone.now()),
            short_datetime(obj.current_deadline),
        )

    @admin.display(description=_("photo"))
    def thumbnail(self, obj):
        # attachments are prefetched by the list's queryset: no query per row.
        photos = list(obj.attachments.all())
        if not photos:
            return ""
        return format_html('<img class="case-thumb" src="{}" alt="" loading="lazy">', photos[0].image.url)

    @admin.display(description=_("resident contact"))
    def contact(self, obj):
        contact = selectors.contact_for(obj.viewer, obj)
        parts = [p for p in (contact["name"], contact["phone"], contact["email"]) if p]
        return " · ".join(parts) or "—"

    # --- permissions: reading is scoped, changing happens only by transitions ---
    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) if obj is None else False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": CaseAddForm.Meta.fields + ["photos", "file_anyway"]})]
        fieldsets = super().get_fieldsets(request, obj)
        if obj.category.requires_mediation:
            # A dispute: its mediation record (cases/mediation.py), the parties masked per viewer.
            fieldsets = [*fieldsets[:2], (_("Mediation"), {"fields": ["mediation_display"]}), *fieldsets[2:]]
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else [*self.readonly_fields, "mediation_display"]

    @admin.display(description=_("mediation record"))
    def mediation_display(self, obj):
        return mediation_admin.mediation_summary(obj, obj.viewer)

    def get_inlines(self, request, obj):
        # An empty escalation table only lengthens the page: shown once the case has one.
        if obj is None:
            return []
        inlines = list(self.inlines) if obj.escalations.exists() else []
        # Assisting units' tasks and extension/suspension requests, likewise once there are some.
        return inlines + [
            inline
            for inline, rows in ((AssistTaskInline, obj.assist_tasks), (ClockRequestInline, obj.clock_requests))
            if rows.exists()
        ]

    def get_changeform_initial_data(self, request):
        """A grid worker (or anyone who may report in one grid only) finds their grid already chosen."""
        initial = super().get_changeform_initial_data(request)
        grids = list(selectors.reportable_grids(request.user).values_list("pk", flat=True)[:2])
        if len(grids) == 1:
            initial.setdefault("grid", grids[0])
        return initial

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = CaseAddForm
        form = super().get_form(request, obj, change=change, **kwargs)
        form.request = request
        return form

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "grid":
            kwargs["queryset"] = selectors.reportable_grids(request.user)
        elif db_field.name == "category":
            kwargs["queryset"] = Category.objects.filter(parent__isnull=False, is_active=True).select_related("parent")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        data.pop("file_anyway", None)  # the reporter's answer to the nearby offer, not a case field
        data.pop("photos", None)  # kept with those of earlier submits as they arrived (CaseAddForm.clean)
        # Taken in the add view's transaction: kept again if the filing fails, attached once if not.
        case = create_case(actor=request.user, photos=form.tray.take(), **data)
        obj.pk, obj.number, obj.area_path = case.pk, case.number, case.area_path

    def response_add(self, request, obj, post_url_continue=None):
        # The reporter lands on the case just reported (a new case waits for the dispatcher, not for them).
        if "_addanother" in request.POST:
            return super().response_add(request, obj, post_url_continue)
        messages.success(request, gettext("Case %(number)s reported.") % {"number": obj.number})
        return redirect(reverse("admin:cases_case_change", args=[obj.pk]))

    def save_related(self, request, form, formsets, change):
        """Nothing: a new case's photos were stored by the service, history is read-only."""

    def get_object(self, request, object_id, from_field=None):
        case = super().get_object(request, object_id, from_field)
        if case is not None:
            # Who is looking decides whether the resident's contact is masked.
            case.viewer = request.user
        return case

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk:
            # Residents who follow the case (cases/followers.py), masked like the reporter's contact.
            followers = selectors.followers_for(request.user, obj)
            # The page is about to show the contacts: unmasked ones go to the security audit log.
            record_contact_view(actor=request.user, case=obj, via="web", followers=followers)
            transitions = [
                t for block in context.get("fsm_object_transitions", []) for t in block.available_transitions
            ]
            context.update(
                mediation=mediation_admin.mediation_panel(obj, request.user),
                followers=followers,
                sheet=self.work_sheet(request, obj),
                step_buttons=sheet.step_buttons(transitions),
                timeline=selectors.case_timeline(obj, request.user),
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def work_sheet(self, request, case):
        summary = sheet.case_sheet(case, request.user)
        if case.current_deadline is not None:
            summary["time_left"] = time_left_text(case.current_deadline - timezone.now())
            summary["deadline_label"] = DEADLINE_STATES[case.deadline_state]
        return summary

    def history_view(self, request, object_id, extra_context=None):
        """The history button shows the case's one timeline, not Django's change log."""
        case = self.get_object(request, unquote(object_id))
        if case is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, case):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": case,
            "title": gettext("History · %(number)s") % {"number": case.number},
            "timeline": selectors.case_timeline(case, request.user),
            "change_url": reverse("admin:cases_case_change", args=[case.pk]),
        }
        return TemplateResponse(request, "admin/cases/case/history.html", context)

    def print_view(self, request, object_id):
        """案件处置单: one A4 page from the browser's print; 404 for a case outside the user's scope."""
        case = self.get_object(request, unquote(object_id))
        if case is None or not self.has_view_or_change_permission(request, case):
            raise Http404
        record_contact_view(actor=request.user, case=case, via="web")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": case,
            "title": gettext("Case sheet · %(number)s") % {"number": case.number},
            "sheet": self.work_sheet(request, case),
            "timeline": selectors.case_timeline(case, request.user),
            "printed_at": timezone.localtime(),
            "change_url": reverse("admin:cases_case_change", args=[case.pk]),
        }
        return TemplateResponse(request, "admin/cases/case/print.html", context)

    def get_fsm_label(self, transition):
        return steps.label_of(transition.name)

    @staticmethod
    def get_fsm_block_label(fsm_field_name):
        return gettext("Next step")

    def is_fsm_transition_visible(self, transition):
        step = steps.get(transition.name)
        return step is not None and step.by_people

    # --- bulk work: each case through the same service as a single step, on its own savepoint ---
    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def _selection(self, request, queryset):
        """The chosen cases the user may see, and the ids asked for that they may not (or that do not exist)."""
        asked = {int(pk) for pk in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME) if str(pk).isdigit()}
        cases = list(queryset.order_by("pk"))
        return cases, sorted(asked - {c.pk for c in cases})

    def _bulk_page(self, request, queryset, form, action, heading):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": heading,
            "form": form,
            "action": action,
            "cases": queryset.order_by("pk")[:200],
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/cases/case/bulk_form.html", context)

    def _bulk_result(self, request, outcome, heading):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": heading,
            "outcome": outcome,
            "back_url": request.get_full_path(),
        }
        return TemplateResponse(request, "admin/cases/case/bulk_result.html", context)

    @admin.action(description=_("Assess and assign the selected cases to one unit"), permissions=["change"])
    def bulk_assess_assign(self, request, queryset):
        form = BulkAssignForm(request.POST if "apply" in request.POST else None, user=request.user)
        if form.is_bound and form.is_valid():
            cases, missing = self._selection(request, queryset)
            outcome = transition_each(
                actor=request.user,
                cases=cases,
                plan=assess_and_assign_plan(**form.unit()),
                missing=missing,
            )
            return self._bulk_result(request, outcome, gettext("Assess and assign: result"))
        return self._bulk_page(request, queryset, form, "bulk_assess_assign", gettext("Assess and assign"))

    @admin.action(description=_("Dismiss the selected cases as duplicates"), permissions=["change"])
    def bulk_dismiss_duplicate(self, request, queryset):
        form = BulkDuplicateForm(request.POST if "apply" in request.POST else None, user=request.user)
        if form.is_bound and form.is_valid():
            cases, missing = self._selection(request, queryset)
            original, comment = form.cleaned_data["duplicate_of"], form.cleaned_data["comment"]
            outcome = transition_each(
                actor=request.user,
                cases=cases,
                plan=lambda case: [
                    ("dismiss", {"reason": DismissReason.DUPLICATE, "duplicate_of": original, "comment": comment})
                ],
                missing=missing,
            )
            return self._bulk_result(request, outcome, gettext("Dismiss as duplicates: result"))
        return self._bulk_page(request, queryset, form, "bulk_dismiss_duplicate", gettext("Dismiss as duplicates"))

    def get_urls(self):
        # The privacy officer's data-subject request pages live under the case admin.
        printable = path(
            "<path:object_id>/print/", self.admin_site.admin_view(self.print_view), name="cases_case_print"
        )
        kept_photo = path(
            "add/photo/<str:key>/", self.admin_site.admin_view(self.kept_photo_view), name="cases_case_kept_photo"
        )
        return [kept_photo, *subject_requests.urls(self.admin_site), printable, *super().get_urls()]

    def kept_photo_view(self, request, key):
        """A photo kept on the add form, for the session that chose it only (404 for anyone else); admin_view
        has it never cached."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        return kept_photos.thumbnail_response(request, key)

    # --- transitions: every step is a form page that calls the service --------
    def fsm_transition_view(self, request, object_id, transition_name, **kwargs):
        case = self.get_object(request, object_id)
        step = steps.get(transition_name)
        if case is None or step is None or not step.by_people:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        change_url = reverse("admin:cases_case_change", args=[case.pk])
        try:
            check_transition(actor=request.user, case=case, name=transition_name)
        except CaseStateConflict as exc:
            messages.error(request, str(exc))
            return redirect(change_url)
        except PermissionDenied:
            raise
        form_class = step.form
        post = request.method == "POST"
        form = form_class(
            request.POST if post else None,
            request.FILES if post else None,
            case=case,
            user=request.user,
            step=transition_name,
        )
        status = 200
        if post and form.is_valid():
            try:
                transition_case(actor=request.user, case=case, name=transition_name, **form.service_kwargs())
            except ValidationError as exc:
                add_service_errors(form, exc)
            except CaseStateConflict as exc:
                messages.error(request, str(exc))
                return redirect(change_url)
            else:
                case.refresh_from_db()
                left = time_left_text(case.current_deadline - timezone.now()) if case.current_deadline else ""
                messages.success(request, sheet.where_it_went(case, transition_name, time_left=left))
                return redirect(change_url)
        if post:
            status = 400
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": case,
            "title": f"{step.label} · {case.number}",
            "transition_label": step.label,
            "transition_form": form,
            "destructive": step.destructive,
            "sheet": self.work_sheet(request, case),
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/cases/case/transition_form.html", context, status=status)


class CategoryInline(admin.TabularInline):
    model = Category
    fk_name = "parent"
    extra = 0
    fields = [
        "code",
        "name",
        "default_department",
        "default_tier",
        "priority",
        "assess_limit",
        "assess_unit",
        "handle_limit",
        "handle_unit",
        "verify_limit",
        "verify_unit",
        "safety_dimension",
        "safety_weight",
        "requires_mediation",
        "is_active",
    ]


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = [
        "code",
        "name",
        "parent",
        "default_department",
        "default_tier",
        "priority",
        "handle_limit",
        "handle_unit",
        "safety_dimension",
        "safety_weight",
        "is_active",
        "public",
        "requires_mediation",
    ]
    list_filter = ["parent", "priority", "safety_dimension", "is_active", "public", "requires_mediation"]
    search_fields = ["code", "name"]
    list_select_related = ["parent", "default_department"]

    def get_inlines(self, request, obj):
        return [CategoryInline] if obj is not None and obj.parent_id is None else []


@admin.register(WorkCalendarDay)
class WorkCalendarDayAdmin(admin.ModelAdmin):
    list_display = ["date", "is_workday", "name"]
    list_filter = ["is_workday", ("date", admin.DateFieldListFilter)]
    date_hierarchy = "date"
    search_fields = ["name"]

    def changelist_view(self, request, extra_context=None):
        # The calendar opens at this year: last year's holidays are history, the whole table is noise.
        if not request.GET:
            return redirect(f"{request.path}?date__year={timezone.localdate().year}")
        for year in years_without_calendar():
            messages.warning(
                request,
                gettext(
                    "The work calendar has no entries for %(year)d: weekdays count as "
                    "working days until that year's holidays are entered."
                )
                % {"year": year},
            )
        return super().changelist_view(request, extra_context)


class BulkAssignForm(forms.Form):
    """One unit for every selected case; the service checks it against each case's area."""

    department = forms.ModelChoiceField(label=_("Department"), queryset=Department.objects.none(), required=False)
    area = forms.ModelChoiceField(label=_("Area"), queryset=Area.objects.none(), required=False)
    priority = forms.ChoiceField(
        label=_("Priority"),
        choices=[("", _("As reported")), *Priority.choices],
        required=False,
        help_text=_("Only for cases that are still to be assessed."),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = selectors.dispatchable_departments(user)
        self.fields["area"].queryset = selectors.dispatchable_areas(user)

    def clean(self):
        data = super().clean()
        if bool(data.get("department")) == bool(data.get("area")):
            raise forms.ValidationError(gettext("Choose a department or an area (one of them)."))
        return data

    def unit(self) -> dict:
        data = self.cleaned_data
        return {"department": data.get("department"), "area": data.get("area"), "priority": data.get("priority")}


class BulkDuplicateForm(forms.Form):
    duplicate_of = forms.CharField(label=_("Duplicate of case number"), max_length=20)
    comment = forms.CharField(label=_("Explanation"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, user, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_duplicate_of(self):
        number = self.cleaned_data["duplicate_of"].strip()
        original = selectors.cases_for(self.user).filter(number=number).first()
        if original is None:
            raise forms.ValidationError(gettext("No case %(number)s that you can see.") % {"number": number})
        return original


class BulkInstructionForm(forms.Form):
    instruction = forms.CharField(
        label=_("supervision instruction"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )


class SupervisionReplyForm(forms.Form):
    text = forms.CharField(label=_("Reply"), max_length=2000, widget=forms.Textarea(attrs={"rows": 4}))


class EscalationForm(forms.ModelForm):
    class Meta:
        model = Escalation
        fields = ["instruction"]
        widgets = {"instruction": forms.Textarea(attrs={"rows": 3})}


@admin.register(Escalation)
class EscalationAdmin(admin.ModelAdmin):
    """Supervision (督办): a supervisor acknowledges a red escalation with an instruction."""

    form = EscalationForm
    list_display = ["case", "level", "stage", "deadline", "created_at", "notified_names", "acknowledged_at"]
    list_filter = ["level", "stage", ("acknowledged_at", admin.EmptyFieldListFilter)]
    list_select_related = ["case"]
    search_fields = ["case__number"]
    show_full_result_count = False
    paginator = CappedCountPaginator
    readonly_fields = [
        "case",
        "level",
        "stage",
        "deadline",
        "created_at",
        "notified_names",
        "acknowledged_by",
        "acknowledged_at",
    ]
    fields = readonly_fields + ["instruction"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(case__in=selectors.cases_for(request.user))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        if obj is None:
            return super().has_change_permission(request)
        return (
            super().has_change_permission(request, obj)
            and obj.level >= 2
            and obj.acknowledged_at is None
            and (request.user.is_superuser or request.user.pk in obj.notified)
        )

    def save_model(self, request, obj, form, change):
        acknowledge_escalation(actor=request.user, escalation=obj, instruction=form.cleaned_data["instruction"])

    actions = ["bulk_acknowledge"]

    @admin.action(description=_("Acknowledge the selected escalations with one instruction"), permissions=["change"])
    def bulk_acknowledge(self, request, queryset):
        form = BulkInstructionForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            outcome = acknowledge_each(
                actor=request.user,
                escalations=list(queryset.select_related("case").order_by("pk")),
                instruction=form.cleaned_data["instruction"],
            )
            context = {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": gettext("Acknowledge escalations: result"),
                "outcome": outcome,
                "back_url": request.get_full_path(),
            }
            return TemplateResponse(request, "admin/cases/case/bulk_result.html", context)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Acknowledge escalations"),
            "form": form,
            "action": "bulk_acknowledge",
            "cases": [e.case for e in queryset.select_related("case")[:200]],
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/cases/case/bulk_form.html", context)

    def get_urls(self):
        return [
            path(
                "<int:escalation_id>/reply/",
                self.admin_site.admin_view(self.reply_view),
                name="cases_escalation_reply",
            ),
            *super().get_urls(),
        ]

    def reply_view(self, request, escalation_id):
        """The handling unit answers a supervision instruction (services.reply_to_supervision)."""
        escalation = (
            self.get_queryset(request).select_related("case", "acknowledged_by").filter(pk=escalation_id).first()
        )
        if escalation is None:
            raise Http404
        if not may_reply_to_supervision(request.user, escalation.case):
            raise PermissionDenied
        form = SupervisionReplyForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                reply_to_supervision(actor=request.user, escalation=escalation, text=form.cleaned_data["text"])
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, gettext("Your reply is on the case; the supervisor was told."))
                return redirect(reverse("admin:cases_case_change", args=[escalation.case_id]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Reply to supervision · %(number)s") % {"number": escalation.case.number},
            "escalation": escalation,
            "form": form,
            "change_url": reverse("admin:cases_case_change", args=[escalation.case_id]),
        }
        return TemplateResponse(request, "admin/cases/escalation/reply.html", context)


@admin.register(WorkflowSettings)
class WorkflowSettingsAdmin(SingletonAdminMixin, admin.ModelAdmin):
    def save_model(self, request, obj, form, change):
        save_workflow_settings(actor=request.user, workflow_settings=obj)


class ResponseTemplateForm(forms.ModelForm):
    class Meta:
        model = ResponseTemplate
        fields = ["step", "text", "audience", "area", "is_active"]

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request
        self.fields["step"] = forms.ChoiceField(
            label=_("step"),
            choices=[(name, step.label) for name, step in steps.STEPS.items() if step.by_people],
        )
        self.fields["area"].queryset = response_templates.owner_areas(request.user)


@admin.register(ResponseTemplate)
class ResponseTemplateAdmin(admin.ModelAdmin):
    """District staff keep the district's templates, a street its own; everyone below uses them in the steps."""

    list_display = ["text_display", "step_display", "audience", "area", "is_active"]
    list_filter = ["audience", "is_active"]
    search_fields = ["text"]
    list_select_related = ["area"]

    def get_queryset(self, request):
        return response_templates.editable(request.user, super().get_queryset(request))

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = ResponseTemplateForm
        base = super().get_form(request, obj, change=change, **kwargs)

        class FormForRequest(base):
            def __init__(self, *args, **kw):
                super().__init__(*args, request=request, **kw)

        return FormForRequest

    def save_model(self, request, obj, form, change):
        # The form offers only the user's own areas; a posted id from elsewhere is refused here too.
        if not response_templates.may_own(request.user, obj.area):
            raise PermissionDenied
        super().save_model(request, obj, form, change)

    @admin.display(description=_("text"))
    def text_display(self, obj):
        return obj.text[:60]

    @admin.display(description=_("step"))
    def step_display(self, obj):
        return steps.label_of(obj.step)
