"""The back office for training (培训): courses of an area, attendance of the people one administers.

Reads and writes go through accounts/training.py: a course is kept by who manages its area, attendance
is recorded only for people the official administers (Scope.administers); a row outside that is refused
with 403, not hidden behind "does not exist".
"""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError

from gov_platform.errors import add_service_errors
from grids.models import Area, Tier

from . import training
from .models import Attendance, Course


class CourseForm(forms.ModelForm):
    class Meta:
        model = Course
        fields = ["title", "date", "hours", "kind", "area"]
        widgets = {"date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "area" in self.fields:
            self.fields["area"].queryset = self.request.user.scope.managed_areas(
                Area.objects.filter(tier__in=[Tier.DISTRICT, Tier.STREET, Tier.COMMUNITY]), include_roots=True
            ).order_by("path")


@admin.register(Course)
class CourseAdmin(admin.ModelAdmin):
    form = CourseForm
    list_display = ["date", "title", "kind", "hours", "area"]
    list_filter = ["kind", "date"]
    search_fields = ["title"]
    list_select_related = ["area"]
    allowed_lookups = ()

    def get_queryset(self, request):
        return training.courses_for(request.user, super().get_queryset(request))

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.request = request
        return form

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or training.may_keep_course(request.user, obj))

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        training.save_course(actor=request.user, course=obj)


class AttendanceForm(forms.ModelForm):
    class Meta:
        model = Attendance
        fields = ["course", "user", "hours", "passed"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        user = self.request.user
        if "course" in self.fields:
            self.fields["course"].queryset = training.courses_for(user).order_by("-date")
        if "user" in self.fields:
            self.fields["user"].queryset = training.trainees_for(user)

    def clean(self):
        data = super().clean()
        if not self.errors:
            try:
                training.check_attendance(
                    actor=self.request.user, course=data["course"], user=data["user"], hours=data["hours"]
                )
            except ValidationError as exc:
                add_service_errors(self, exc)
        return data


@admin.register(Attendance)
class AttendanceAdmin(admin.ModelAdmin):
    form = AttendanceForm
    list_display = ["course", "user", "hours", "passed", "recorded_by", "recorded_at"]
    list_filter = ["passed", "course__kind", "course__date"]
    search_fields = ["user__username", "user__real_name", "course__title"]
    list_select_related = ["course", "user", "recorded_by"]
    allowed_lookups = ()

    def get_queryset(self, request):
        return training.attendance_for(request.user, super().get_queryset(request))

    def get_object(self, request, object_id, from_field=None):
        found = super().get_object(request, object_id, from_field)
        if found is None and str(object_id).isdigit() and Attendance.objects.filter(pk=object_id).exists():
            raise PermissionDenied
        return found

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.request = request
        return form

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or request.user.scope.administers(obj.user))

    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or request.user.scope.administers(obj.user))

    def save_model(self, request, obj, form, change):
        # The form offered only the people this official administers; the service decides again.
        training.record_attendance(
            actor=request.user, course=obj.course, user=obj.user, hours=obj.hours, passed=obj.passed
        )
