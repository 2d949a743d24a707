"""Writes of the metrics app: settings, monthly safety-index snapshots, case-list exports.

Each takes the acting user (None for the platform's own tasks) as a keyword argument.
"""

import logging
import tempfile
from datetime import date, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import Kind, record
from gov_platform.db_router import replica_reads
from gov_platform.models_diff import changed_fields
from grids.models import Area

from . import exports, safety, selectors
from .kpis import Period, clock_for, first_of_month
from .models import ExportJob, ExportStatus, MetricsSettings, SafetyIndexRun, SafetyIndexSnapshot, export_path

logger = logging.getLogger(__name__)


class SnapshotExists(Exception):
    """The month is recorded already; replacing it takes an explicit force."""


@transaction.atomic
def save_metrics_settings(*, actor, metrics_settings: MetricsSettings) -> MetricsSettings:
    """Save the rules. Recorded months keep the rules they were computed under."""
    metrics_settings.full_clean()
    changed = changed_fields(metrics_settings)
    metrics_settings.save()
    record(Kind.SETTINGS_CHANGED, actor=actor, target=str(metrics_settings._meta.verbose_name), changed=changed)
    return metrics_settings


@transaction.atomic
def snapshot_safety_index(*, actor, month: date, force: bool = False, now=None) -> SafetyIndexRun:
    """Compute and store the safety index of every area for ``month`` (a month that has ended).

    A recorded month is never changed by later rule changes; ``force`` replaces it with a
    computation under the current rules. Raises SnapshotExists when recorded and not forced."""
    now = now or timezone.now()
    month = first_of_month(month)
    if month >= first_of_month(timezone.localdate(now)):
        raise ValidationError({"month": _("Only a month that has ended can be recorded.")})
    existing = SafetyIndexRun.objects.select_for_update().filter(month=month).first()
    if existing is not None:
        if not force:
            raise SnapshotExists(_("%(month)s is recorded already.") % {"month": f"{month:%Y-%m}"})
        existing.delete()
    rules = MetricsSettings.current()
    scores = safety.compute_month(month=month, rules=rules, as_of=now)
    try:
        # A savepoint: two first recordings at once meet at the unique month, not in a half-written run.
        with transaction.atomic():
            run = SafetyIndexRun.objects.create(
                month=month,
                computed_at=now,
                computed_by=actor,
                parameters=safety.parameters(rules),
                grids=sum(1 for s in scores if s.tier == "grid"),
            )
    except IntegrityError as exc:
        raise SnapshotExists(_("%(month)s is recorded already.") % {"month": f"{month:%Y-%m}"}) from exc
    SafetyIndexSnapshot.objects.bulk_create(
        [
            SafetyIndexSnapshot(
                run=run,
                month=month,
                area_id=s.area_id,
                area_path=s.path,
                area_code=s.code,
                area_name=s.name,
                tier=s.tier,
                population=s.population,
                score=s.score,
                colour=s.colour,
                rank=s.rank,
                change=s.change,
                inputs=s.inputs,
            )
            for s in scores
        ],
        batch_size=1000,
    )
    return run


# --- exports ---------------------------------------------------------------------
@transaction.atomic
def request_case_export(*, actor, area: Area, period: Period) -> ExportJob:
    """Queue a case-list export for a worker; the requester downloads it from the exports list."""
    selectors.export_cases(user=actor, area=area, period=period)  # refuses an area outside scope
    job = ExportJob.objects.create(
        requested_by=actor,
        kind="cases",
        parameters={"area": area.code, "from": period.start.isoformat(), "to": period.end.isoformat()},
        description=_("Cases of %(area)s reported %(period)s") % {"area": area.name, "period": period},
    )
    transaction.on_commit(lambda: _enqueue_export(job.pk))
    return job


@transaction.atomic
def export_cases_now(*, actor, area: Area, period: Period, fileobj) -> int:
    """Write a small case list to ``fileobj`` for download at once; returns the number of cases."""
    cases = selectors.export_cases(user=actor, area=area, period=period)
    rows = exports.write_cases(cases, fileobj, clock=clock_for(period))
    # Case lists carry what residents wrote: who took one out, of what and how much, is logged.
    record(
        Kind.DATA_EXPORT,
        actor=actor,
        target=area.name,
        export="cases",
        delivery="inline",
        filters={"area": area.code, "from": period.start.isoformat(), "to": period.end.isoformat()},
        rows=rows,
    )
    return rows


@transaction.atomic
def record_export_download(*, actor, job: ExportJob) -> None:
    """The file of a built export leaves the platform (possibly to someone other than its requester)."""
    record(
        Kind.DATA_EXPORT,
        actor=actor,
        target=job.parameters.get("area", ""),
        export=job.kind,
        delivery="download",
        job=job.pk,
        filters=job.parameters,
        rows=job.rows,
    )


def _enqueue_export(job_id: int):
    from .tasks import build_case_export

    try:
        build_case_export.apply_async((job_id,), retry=False, ignore_result=True)
    except Exception:
        # Building it here instead would tie up the request for as long as the export takes.
        logger.exception("Could not queue export %s", job_id)
        ExportJob.objects.filter(pk=job_id, status=ExportStatus.PENDING).update(
            status=ExportStatus.FAILED,
            error=_("The task queue is unavailable; request the export again later."),
            finished_at=timezone.now(),
        )


def build_case_export(*, job_id: int) -> ExportJob | None:
    """Write the job's workbook (on a worker). Claimed atomically, so two deliveries build it once.

    Not one transaction: a large list takes minutes, and the claim alone keeps it single."""
    claimed = ExportJob.objects.filter(pk=job_id, status=ExportStatus.PENDING).update(
        status=ExportStatus.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        return None
    job = ExportJob.objects.select_related("requested_by").get(pk=job_id)
    try:
        area = Area.objects.get(code=job.parameters["area"])
        period = Period(date.fromisoformat(job.parameters["from"]), date.fromisoformat(job.parameters["to"]))
        # Scope as it is now: a requester who has lost the area gets nothing.
        cases = selectors.export_cases(user=job.requested_by, area=area, period=period)
        with tempfile.TemporaryFile() as fileobj, replica_reads():
            job.rows = exports.write_cases(cases, fileobj, clock=clock_for(period))
            fileobj.seek(0)
            job.file.save(export_path(job, "cases.xlsx"), File(fileobj), save=False)
        job.status = ExportStatus.DONE
    except (Area.DoesNotExist, PermissionDenied):
        job.status, job.error = ExportStatus.FAILED, _("The area is no longer within your scope.")
    except Exception as exc:
        logger.exception("Export %s failed", job_id)
        job.status, job.error = ExportStatus.FAILED, str(exc)[:1000]
    job.finished_at = timezone.now()
    with transaction.atomic():
        job.save(update_fields=["rows", "file", "status", "error", "finished_at"])
        if job.status == ExportStatus.DONE:
            record(
                Kind.DATA_EXPORT,
                actor=job.requested_by,
                target=job.parameters.get("area", ""),
                export=job.kind,
                delivery="worker",
                job=job.pk,
                filters=job.parameters,
                rows=job.rows,
            )
    return job


@transaction.atomic
def purge_exports(*, now=None, keep_days: int = 7, stuck_hours: int = 6) -> int:
    """Delete exports older than ``keep_days`` with their files; fail jobs a lost worker left running."""
    now = now or timezone.now()
    ExportJob.objects.filter(status=ExportStatus.RUNNING, started_at__lt=now - timedelta(hours=stuck_hours)).update(
        status=ExportStatus.FAILED, error=_("The worker building this export stopped."), finished_at=now
    )
    old = list(ExportJob.objects.filter(created_at__lt=now - timedelta(days=keep_days)))
    files = [job.file.name for job in old if job.file]
    ExportJob.objects.filter(pk__in=[j.pk for j in old]).delete()
    # Files go only once the rows are gone for good.
    transaction.on_commit(lambda: [default_storage.delete(name) for name in files])
    return len(old)
