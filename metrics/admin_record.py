"""The admin of a month recorded as a whole by its service (the safety index, the appraisal)."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect
from django.urls import path, reverse

from gov_platform.errors import add_service_errors

from .forms import RecordMonthForm


class RecordMonthAdminMixin:
    """A recorded month is never added, edited or deleted here: it is recorded from a form at ``record/``
    by those who may add one (a month, and whether to replace it), and replaced by an action. Subclasses
    name the service (``record_month``), its "already recorded" error and how the form page looks."""

    record_exists: type[Exception] = Exception

    def record_month(self, *, actor, month, force):
        raise NotImplementedError

    def recorded_message(self, run) -> str:
        raise NotImplementedError

    def record_page(self, request, form):
        raise NotImplementedError

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def may_record(self, request):
        opts = self.model._meta
        return request.user.has_perm(f"{opts.app_label}.add_{opts.model_name}")

    def has_record_permission(self, request):
        return self.may_record(request)

    def get_urls(self):
        opts = self.model._meta
        name = f"{opts.app_label}_{opts.model_name}_record"
        return [path("record/", self.admin_site.admin_view(self.record_view), name=name), *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), "may_record": self.may_record(request)})

    def record_view(self, request):
        if not self.may_record(request):
            raise PermissionDenied
        form = RecordMonthForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                run = self.record_month(
                    actor=request.user, month=form.cleaned_data["month"], force=form.cleaned_data["force"]
                )
            except self.record_exists as exc:
                form.add_error("month", str(exc))
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, self.recorded_message(run))
                opts = self.model._meta
                return redirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        return self.record_page(request, form)
