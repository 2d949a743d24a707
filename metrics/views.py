"""Pages of the metrics: the admin dashboard, the exports, the public disclosure page. Each parses, asks a
selector or service, and renders; scope is decided in the selectors (an area outside it answers 403)."""

import io

from django.conf import settings
from django.contrib import admin, messages
from django.http import FileResponse, Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_page
from django.views.decorators.http import require_GET, require_POST

from . import dashboard_page, exports, mediation, selectors, services
from .forms import FiguresForm, MonthForm
from .kpis import Period, clock_for
from .models import ExportJob, ExportStatus

PUBLIC_CACHE_SECONDS = 300


def _area_or_error(request, form):
    """The area the form names (or the user's first), or an error message for the form."""
    try:
        return selectors.area_for(request.user, form.cleaned_data.get("area") or None), None
    except selectors.UnknownArea:
        return None, _("No area with this code.")


def admin_index(request):
    """The admin index: the user's figures above the app list (reached through admin_view: staff only)."""
    form = FiguresForm(request.GET) if request.GET else None
    period, area = Period.month_to_date(), None
    if form is not None and form.is_valid():
        period = form.cleaned_data["period"]
        if form.cleaned_data.get("area"):
            area, error = _area_or_error(request, form)
            if error:
                form.add_error("area", error)
    dashboard = selectors.dashboard(user=request.user, period=period, area=area)
    if form is None:
        form = FiguresForm(
            initial={
                "area": dashboard.area.code if dashboard and dashboard.area else "",
                "from": period.start,
                "to": period.end,
            }
        )
    context = {"dashboard": dashboard, "figures_form": form, "figures_cache_seconds": 0, "trend_svg": ""}
    if dashboard is not None:
        context.update(dashboard_page.fragment_context(user=request.user, dashboard=dashboard))
    return admin.site.index(request, extra_context=context)


def _xlsx(content: bytes, name: str) -> HttpResponse:
    response = HttpResponse(content, content_type=exports.XLSX)
    response["Content-Disposition"] = f'attachment; filename="{name}-{timezone.localtime():%Y%m%d-%H%M}.xlsx"'
    return response


@require_GET
def export_kpis(request):
    form = FiguresForm(request.GET)
    if not form.is_valid():
        return HttpResponseBadRequest(" ".join(m for ms in form.errors.values() for m in ms))
    area, error = _area_or_error(request, form)
    if error:
        return HttpResponseBadRequest(error)
    period = form.cleaned_data["period"]
    clock = clock_for(period)
    figures = selectors.area_figures(user=request.user, area=area, period=period, clock=clock)
    content = exports.kpi_workbook(
        area=area,
        period=period,
        kpis=figures.kpis,
        children=figures.children,
        departments=selectors.department_kpis(user=request.user, area=area, period=period, clock=clock),
    )
    return _xlsx(content, f"kpis-{area.code}")


@require_GET
def export_safety(request):
    form = MonthForm(request.GET)
    if not form.is_valid():
        return HttpResponseBadRequest(" ".join(m for ms in form.errors.values() for m in ms))
    area, error = _area_or_error(request, form)
    if error:
        return HttpResponseBadRequest(error)
    month = form.cleaned_data.get("month") or next(iter(selectors.recorded_months()), None)
    if month is None:
        raise Http404(_("No safety index has been recorded yet."))
    rows = selectors.safety_rows(user=request.user, area=area, month=month)
    return _xlsx(exports.safety_workbook(month=month, rows=rows), f"safety-index-{area.code}-{month:%Y%m}")


@require_POST
def export_cases(request):
    """A small list comes back at once; a large one is built by a worker and listed under Exports."""
    form = FiguresForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest(" ".join(m for ms in form.errors.values() for m in ms))
    area, error = _area_or_error(request, form)
    if error:
        return HttpResponseBadRequest(error)
    period = form.cleaned_data["period"]
    cases = selectors.export_cases(user=request.user, area=area, period=period)
    inline_max = settings.METRICS_INLINE_EXPORT_ROWS
    if cases[: inline_max + 1].count() <= inline_max:
        buffer = io.BytesIO()
        services.export_cases_now(actor=request.user, area=area, period=period, fileobj=buffer)
        return _xlsx(buffer.getvalue(), f"cases-{area.code}")
    job = services.request_case_export(actor=request.user, area=area, period=period)
    messages.info(request, _("The export is being built; download it here when it is ready: %(name)s") % {"name": job})
    return redirect(reverse("admin:metrics_exportjob_changelist"))


def download_export(request, pk):
    jobs = ExportJob.objects.filter(status=ExportStatus.DONE)
    if not request.user.is_superuser:
        jobs = jobs.filter(requested_by=request.user)
    job = get_object_or_404(jobs, pk=pk)
    if not job.file:
        raise Http404
    services.record_export_download(actor=request.user, job=job)
    return FileResponse(job.file.open("rb"), as_attachment=True, filename=f"cases-{job.created_at:%Y%m%d-%H%M}.xlsx")


@cache_page(PUBLIC_CACHE_SECONDS)
def public_page(request):
    """公开: this month's and last month's figures by street and community, for residents; aggregates only."""
    # The district discloses to its residents in Chinese, whatever the browser asks for.
    with translation.override(settings.LANGUAGE_CODE):
        disclosure = selectors.public_disclosure(ranked_by=request.GET.get("by", "safety"))
        return render(
            request,
            "metrics/public.html",
            {
                "disclosure": disclosure,
                "rankings": selectors.PUBLIC_RANKINGS,
                "mediation": mediation.public_rates(),
            },
        )
