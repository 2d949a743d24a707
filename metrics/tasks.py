"""Celery tasks: thin wrappers over metrics.services."""

import contextlib

from celery import shared_task
from django.utils import timezone

from . import appraisal, dashboard_page, rollups, selectors, services
from .kpis import add_months, first_of_month


@shared_task(acks_late=True)
def snapshot_safety_index():
    """Record last month's safety index once. Beat runs it on the 1st; the 2nd and 3rd only catch up
    a month that a stopped beat or worker missed, since a recorded month is left as it is."""
    month = add_months(first_of_month(timezone.localdate()), -1)
    try:
        run = services.snapshot_safety_index(actor=None, month=month)
    except services.SnapshotExists:
        return {"month": f"{month:%Y-%m}", "recorded": False}
    return {"month": f"{month:%Y-%m}", "recorded": True, "grids": run.grids}


@shared_task(acks_late=True)
def build_case_export(job_id):
    job = services.build_case_export(job_id=job_id)
    return None if job is None else {"job": job.pk, "status": job.status, "rows": job.rows}


@shared_task(acks_late=True)
def purge_exports():
    return services.purge_exports()


@shared_task(acks_late=True)
def refresh_rollups():
    """Recompute the roll-up buckets marked since the last tick (beat runs it every tick), then merge the
    working-times lists that have gathered enough pending values (after the figures are committed)."""
    return {"buckets": rollups.refresh(), "compacted": rollups.compact()}


@shared_task(acks_late=True)
def warm_hotspots():
    """Renew the district's and streets' hotspot lists before they expire (beat: every half cache period)."""
    return {"areas": selectors.warm_hotspots()}


@shared_task(acks_late=True)
def warm_dashboards():
    """Renew the dashboards officials are reading before they expire, with their page's shared fragments
    (beat: every half cache period)."""
    return {"dashboards": selectors.warm_dashboards(then=dashboard_page.render_fragments)}


@shared_task(acks_late=True)
def record_appraisal():
    """Record last month's appraisal once, after its safety index (recorded here first if beat missed it).
    Beat runs it on the 1st; the 2nd and 3rd only catch up, since a recorded month is left as it is."""
    month = add_months(first_of_month(timezone.localdate()), -1)
    with contextlib.suppress(services.SnapshotExists):
        services.snapshot_safety_index(actor=None, month=month)
    try:
        run = appraisal.record_month(actor=None, month=month)
    except appraisal.AppraisalExists:
        return {"month": f"{month:%Y-%m}", "recorded": False}
    return {"month": f"{month:%Y-%m}", "recorded": True, "units": run.units}
