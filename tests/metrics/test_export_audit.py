"""Case-list exports go to the security audit log: who, which filter, how many rows, and each download."""

import pytest

from accounts.models import SecurityEvent
from metrics import services
from metrics.models import ExportJob

from .conftest import at  # noqa: F401 - the dataset fixture's module
from .test_exports import MARCH

Kind = SecurityEvent.Kind

pytestmark = pytest.mark.django_db


def exports():
    return list(SecurityEvent.objects.filter(kind=Kind.DATA_EXPORT).order_by("pk"))


def test_a_small_case_list_is_logged_with_its_filter_and_rows(dataset, client, people, tree):
    street = people["street_staff"]
    client.force_login(street)
    response = client.post(
        "/admin/metrics/exportjob/cases/", {"area": tree.street_a.code, **MARCH}, REMOTE_ADDR="192.0.2.44"
    )
    assert response.status_code == 200
    (event,) = exports()
    assert (event.actor, event.target, event.ip_address) == (street, tree.street_a.name, "192.0.2.44")
    assert event.detail == {
        "export": "cases",
        "delivery": "inline",
        "filters": {"area": tree.street_a.code, "from": "2026-03-01", "to": "2026-03-31"},
        "rows": 7,
    }


def test_a_large_list_is_logged_when_built_and_again_when_downloaded(
    dataset, client, people, tree, settings, django_capture_on_commit_callbacks
):
    settings.METRICS_INLINE_EXPORT_ROWS = 3
    street = people["street_staff"]
    client.force_login(street)
    with django_capture_on_commit_callbacks(execute=False):
        client.post("/admin/metrics/exportjob/cases/", {"area": tree.street_a.code, **MARCH})
    job = ExportJob.objects.get()
    assert exports() == []  # asked for, nothing has left yet
    services.build_case_export(job_id=job.pk)
    (built,) = exports()
    assert built.actor == street and built.detail["delivery"] == "worker" and built.detail["rows"] == 7

    # The superuser may download anyone's export: the log says who did.
    client.force_login(people["superuser"])
    assert client.get(f"/admin/metrics/exportjob/{job.pk}/download/").status_code == 200
    downloaded = exports()[-1]
    assert downloaded.actor == people["superuser"]
    assert downloaded.detail["delivery"] == "download" and downloaded.detail["job"] == job.pk

    # Someone else's refused download leaves no export row.
    client.force_login(people["community_staff"])
    assert client.get(f"/admin/metrics/exportjob/{job.pk}/download/").status_code == 404
    assert len(exports()) == 2
    job.file.delete(save=False)


def test_an_export_refused_for_scope_is_not_logged_as_one(dataset, client, people, tree):
    client.force_login(people["street_staff"])  # street A asks for street B
    response = client.post("/admin/metrics/exportjob/cases/", {"area": tree.street_b.code, **MARCH})
    assert response.status_code == 403
    assert exports() == []
