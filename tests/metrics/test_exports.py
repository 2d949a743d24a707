"""Excel exports: KPIs and the safety index at once; case lists at once when small, by a worker when large."""

import io
import time
from datetime import date

import pytest
from openpyxl import load_workbook

from metrics import services
from metrics.models import ExportJob, ExportStatus

from .conftest import at

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


def rows_of(content, sheet=None):
    workbook = load_workbook(io.BytesIO(content), read_only=True)
    worksheet = workbook[sheet] if sheet else workbook.worksheets[0]
    return [list(row) for row in worksheet.iter_rows(values_only=True)]


@pytest.fixture
def english(settings):
    settings.LANGUAGE_CODE = "en"


def test_kpi_export(dataset, client, people, tree, english):
    client.force_login(people["district_staff"])
    response = client.get("/admin/metrics/exportjob/kpis/", {"area": tree.district.code, **MARCH})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    rows = rows_of(response.content)
    header, district, street_a, street_b = rows[1:5]
    assert header[:6] == [
        "Code",
        "Area",
        "Tier",
        "Cases reported",
        "Cases reported (previous)",
        "Cases reported (change)",
    ]
    assert district[:6] == [tree.district.code, tree.district.name, "District", 8, 2, 300.0]
    on_time = header.index("On-time handling rate")
    assert district[on_time : on_time + 3] == [80.0, 50.0, 30.0]
    assert (street_a[0], street_a[3]) == (tree.street_a.code, 7)
    assert (street_b[0], street_b[3]) == (tree.street_b.code, 1)
    departments = rows_of(response.content, "Departments")
    assert [(r[0], r[1]) for r in departments[1:]] == [(1, "GA"), (2, "ZD-A")]
    original = header.index("On-time rate against the original deadline")
    assert district[original : original + 3] == [60.0, 50.0, 10.0]
    assert rows_of(response.content, "Assisting tasks")[0][:3] == ["Code", "Department", "Assisting tasks named"]
    definitions = rows_of(response.content, "Definitions")
    assert [
        "Closure rate",
        "Cases rated or closed unrated / cases accepted (assessed or later, not dismissed).",
    ] in definitions


def test_safety_export(dataset, client, people, tree, english):
    services.snapshot_safety_index(actor=None, month=date(2026, 3, 1), now=at(4, 1, 1))
    client.force_login(people["street_staff"])
    response = client.get("/admin/metrics/exportjob/safety-index/", {"area": tree.street_a.code})
    assert response.status_code == 200
    rows = rows_of(response.content)
    assert [r[1] for r in rows[1:]] == [tree.street_a.code, tree.community_a.code, tree.grid_a.code]
    grid = rows[3]
    assert grid[5] == 96.2 and grid[7] == 2


def test_small_case_list_comes_back_at_once(dataset, client, people, tree, english):
    client.force_login(people["street_staff"])
    response = client.post("/admin/metrics/exportjob/cases/", {"area": tree.street_a.code, **MARCH})
    assert response.status_code == 200
    rows = rows_of(response.content)
    assert rows[0][:3] == ["Case number", "Title", "Category group"]
    numbers = sorted(r[0] for r in rows[1:])
    assert numbers == ["C1", "C2", "C3", "C4", "C5", "C6", "C7"]  # street A only, March only
    c2 = next(r for r in rows if r[0] == "C2")
    assert c2[4:7] == [tree.street_a.name, tree.community_a.name, tree.grid_a.name]
    # Late against the deadline in force and the original one; 48 working hours.
    assert c2[19:22] == ["no", "no", 48.0]
    c1 = next(r for r in rows if r[0] == "C1")
    assert c1[19:21] == ["yes", "no"]  # extended: on time only against the approved deadline
    flat = " ".join(str(cell) for row in rows for cell in row)
    assert "13900001111" not in flat  # no personal data


def test_large_case_list_goes_to_a_worker(
    dataset, client, people, tree, settings, django_capture_on_commit_callbacks, english
):
    settings.METRICS_INLINE_EXPORT_ROWS = 3
    client.force_login(people["street_staff"])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post("/admin/metrics/exportjob/cases/", {"area": tree.street_a.code, **MARCH})
    assert response.status_code == 302 and response["Location"].endswith("/admin/metrics/exportjob/")
    job = ExportJob.objects.get()
    assert job.status == ExportStatus.PENDING and len(callbacks) == 1
    # What the worker does (the task calls this service).
    services.build_case_export(job_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.rows) == (ExportStatus.DONE, 7)
    assert job.file.name.startswith("exports/")
    listing = client.get("/admin/metrics/exportjob/")
    assert f"/admin/metrics/exportjob/{job.pk}/download/" in listing.content.decode()
    download = client.get(f"/admin/metrics/exportjob/{job.pk}/download/")
    assert download.status_code == 200
    assert len(rows_of(b"".join(download.streaming_content))) == 8
    # Built once, however often it is delivered.
    assert services.build_case_export(job_id=job.pk) is None
    # Nobody else downloads it.
    client.force_login(people["community_staff"])
    assert client.get(f"/admin/metrics/exportjob/{job.pk}/download/").status_code == 404
    job.file.delete(save=False)


def test_export_of_a_requester_who_lost_the_area_fails(dataset, people, tree):
    from accounts.models import Post

    job = services.request_case_export(actor=people["street_staff"], area=tree.street_a, period=_march())
    Post.objects.filter(user=people["street_staff"]).delete()
    services.build_case_export(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ExportStatus.FAILED and not job.file


def test_broker_down_fails_the_job_instead_of_building_in_the_request(dataset, people, tree, broker_down):
    from django.db import transaction

    with transaction.atomic():
        job = services.request_case_export(actor=people["street_staff"], area=tree.street_a, period=_march())
    services._enqueue_export(job.pk)
    job.refresh_from_db()
    assert job.status == ExportStatus.FAILED and "暂不可用" in job.error  # the reason, in the officials' language


def test_purge_removes_old_exports(dataset, people, tree):
    from datetime import timedelta

    from django.utils import timezone

    job = services.request_case_export(actor=people["street_staff"], area=tree.street_a, period=_march())
    services.build_case_export(job_id=job.pk)
    ExportJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(days=8))
    assert services.purge_exports() == 1
    assert not ExportJob.objects.exists()


def _march():
    from metrics.kpis import Period

    return Period(date(2026, 3, 1), date(2026, 3, 31))


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_builds_the_export(
    tree, people, metric_categories, march_calendar, dataset, celery_worker_process, settings
):
    settings.METRICS_INLINE_EXPORT_ROWS = 1
    worker = celery_worker_process()
    from django.test import Client

    client = Client()
    client.force_login(people["street_staff"])
    response = client.post("/admin/metrics/exportjob/cases/", {"area": tree.street_a.code, **MARCH})
    assert response.status_code == 302
    job = ExportJob.objects.get()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.status in (ExportStatus.DONE, ExportStatus.FAILED):
            break
        time.sleep(0.5)
    assert job.status == ExportStatus.DONE, worker.log.read_text() if worker.log.exists() else job.error
    assert job.rows == 7
    job.file.delete(save=False)


# --- formula injection (issue 17) ------------------------------------------------------------
EVIL = '=HYPERLINK("http://evil.example","查看")'


def cells_of(content, sheet=None):
    """The cells themselves (type and style), not only values."""
    workbook = load_workbook(io.BytesIO(content))
    worksheet = workbook[sheet] if sheet else workbook.worksheets[0]
    return [list(row) for row in worksheet.iter_rows()]


def no_formula_anywhere(content):
    import zipfile

    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        sheets = [archive.read(n) for n in archive.namelist() if n.startswith("xl/worksheets/")]
    return sheets and not any(b"<f>" in xml or b"<f " in xml for xml in sheets)


def test_case_export_writes_a_formula_like_title_as_text(dataset, client, people, tree, english):
    from cases.models import Case

    Case.objects.filter(number="C1").update(title=EVIL)
    Case.objects.filter(number="C2").update(title="@SUM(1+1)")
    client.force_login(people["street_staff"])
    response = client.post("/admin/metrics/exportjob/cases/", {"area": tree.street_a.code, **MARCH})
    assert response.status_code == 200
    assert no_formula_anywhere(response.content)
    rows = {row[0].value: row for row in cells_of(response.content)[1:]}
    for number, text in (("C1", EVIL), ("C2", "@SUM(1+1)")):
        title = rows[number][1]
        assert title.data_type == "s" and title.value == text and title.quotePrefix
    c2 = rows["C2"]
    assert (c2[21].value, c2[21].data_type) == (48.0, "n")  # numbers stay numbers
    assert (c2[23].value, c2[23].data_type) == (1, "n")
    assert c2[10].is_date  # and dates stay dates
    assert not rows["C3"][1].quotePrefix  # ordinary text is untouched


def test_kpi_and_safety_exports_write_formula_like_names_as_text(dataset, client, people, tree, english):
    from grids.models import Area, Department

    Area.objects.filter(pk=tree.street_a.pk).update(name="+cmd|' /C calc'!A0")
    Department.objects.filter(pk=tree.dept_a.pk).update(name="-2+3")
    client.force_login(people["district_staff"])
    response = client.get("/admin/metrics/exportjob/kpis/", {"area": tree.district.code, **MARCH})
    assert no_formula_anywhere(response.content)
    street = next(row for row in cells_of(response.content) if row[0].value == tree.street_a.code)
    assert street[1].value == "+cmd|' /C calc'!A0" and street[1].data_type == "s" and street[1].quotePrefix
    department = next(row for row in cells_of(response.content, "Departments") if row[1].value == "ZD-A")
    assert department[2].value == "-2+3" and department[2].quotePrefix
    assert department[0].data_type == "n"  # the rank

    services.snapshot_safety_index(actor=None, month=date(2026, 3, 1), now=at(4, 1, 1))
    response = client.get("/admin/metrics/exportjob/safety-index/", {"area": tree.district.code})
    assert no_formula_anywhere(response.content)
    street = next(row for row in cells_of(response.content) if row[1].value == tree.street_a.code)
    assert street[2].quotePrefix and street[5].data_type == "n"
