"""What one report costs the database (issue 16, intake): held to the number, so it cannot grow unnoticed.

One ``POST /api/v1/cases/`` by a grid worker (token, Idempotency-Key), 12 statements:
the token with its user; BEGIN; the Idempotency-Key row (INSERT … ON CONFLICT DO NOTHING, no savepoint);
the worker's posts (may they report in this grid?); on
PostgreSQL the new id from the table's sequence (on SQLite the UPDATE that writes the number after the
insert instead); the case INSERT with its number and clock; the roll-up mark (metrics.DirtyBucket); the
report row of the history (django-fsm-log); the grid's dispatchers (community, else street: one query by
path); their notices, email and in-app in one INSERT; the answer stored on the Idempotency-Key row; COMMIT.

One resident report through ``/report/``, 8 statements: from BEGIN to COMMIT the same writes without the key,
the token and posts (the form's lists are built only to show it).

Not among them: the workflow settings, the work calendar and the category and grid named (in the body, or
chosen on the form), kept per process (cases.memo, cases.reference); the new case
read back for the notices' subject or for the answer (it is in hand); its photos, escalations and mediation
for the answer (a case just made has none unless photos were sent).
"""

import uuid

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from accounts.roles import Role
from cases.models import Case, Category
from cases.services import case_number
from outbox.models import Notification
from tests.api_support import isolate_throttling, token_client

API_REPORT = 12
RESIDENT_REPORT = 8


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, settings, tmp_path):
    isolate_throttling(monkeypatch)
    settings.MEDIA_ROOT = tmp_path / "media"
    cache.clear()  # the residents' limits are counted on the shared cache
    yield
    cache.clear()


def api_report(client, categories, tree, n):
    return client.post(
        "/api/v1/cases/",
        {
            "title": f"楼道堆物 {n}",
            "description": "三楼楼道堆放纸箱",
            "category": categories["dispute"].pk,
            "grid": tree.grid_a.code,
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )


def resident_report(client, categories, tree, n):
    return client.post(
        reverse("residents:report"),
        {
            "category": categories["dispute"].pk,
            "description": f"小区门口的路灯坏了一周，晚上很黑 {n}",
            "grid": tree.grid_a.pk,
            "contact_phone": f"1391234567{n}",
        },
    )


@pytest.mark.django_db(transaction=True)  # BEGIN and COMMIT counted as in production
def test_an_api_report(people, tree, categories, django_assert_num_queries):
    client = token_client(people[Role.GRID_WORKER])
    assert api_report(client, categories, tree, 1).status_code == 201  # warms the per-process copies
    with django_assert_num_queries(API_REPORT) as captured:
        response = api_report(client, categories, tree, 2)
    assert response.status_code == 201, response.content
    # Neither the grid nor the worker's posts bring an area's outline (GeoJSON, kilobytes) along.
    assert not [q["sql"] for q in captured.captured_queries if "boundary" in q["sql"]]
    answer = response.json()
    case = Case.objects.get(pk=answer["id"])
    # The number went in with the row, and the answer is the case as stored.
    assert answer["number"] == case.number == case_number(case.reported_at, case.pk)
    assert answer["tracking_code"] == case.tracking_code
    assert (answer["attachments"], answer["escalations"], answer["mediation"]) == ([], [], None)
    assert Notification.objects.filter(context__case=case.pk).exists()


@pytest.mark.django_db(transaction=True)  # BEGIN and COMMIT counted as in production
def test_a_resident_report(people, tree, categories, django_assert_num_queries):
    client = Client()
    assert resident_report(client, categories, tree, 1).status_code == 302
    with django_assert_num_queries(RESIDENT_REPORT):
        response = resident_report(client, categories, tree, 2)
    assert response.status_code == 302
    case = Case.objects.order_by("-pk").first()
    assert response["Location"].startswith(reverse("residents:track", args=[case.tracking_code]))
    assert Notification.objects.filter(context__case=case.pk).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "tamper",
    [
        "category-text",
        "category-huge",
        "category-internal",
        "category-retired",
        "grid-text",
        "grid-huge",
        "grid-community",
    ],
)
def test_the_form_lists_are_not_read_but_a_forged_choice_is_still_refused(tree, categories, tamper):
    """The category and grid are checked against the database on the list's conditions: a value the list
    would not have offered gets the list's answer, and nothing is saved."""
    internal = Category.objects.create(code="0102", name="内部事项", parent=categories["group"], public=False)
    retired = Category.objects.create(code="0103", name="旧分类", parent=categories["group"], is_active=False)
    field, value = {
        "category-text": ("category", "abc"),
        "category-huge": ("category", "99999999999999999999"),
        "category-internal": ("category", internal.pk),
        "category-retired": ("category", retired.pk),
        "grid-text": ("grid", "abc"),
        "grid-huge": ("grid", "99999999999999999999"),
        "grid-community": ("grid", tree.community_a.pk),
    }[tamper]
    data = {
        "category": categories["dispute"].pk,
        "description": "小区门口的路灯坏了一周，晚上很黑",
        "grid": tree.grid_a.pk,
        field: value,
    }
    english = Client()
    english.cookies["django_language"] = "en"
    response = english.post(reverse("residents:report"), data)
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert not Case.objects.exists()
