"""The category and grid a report names, kept per process (cases.reference): read once, and any change to the
categories or areas — saved, deleted, or written in bulk by an import — counts at once."""

import uuid

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from accounts.roles import Role
from cases.models import Case, Category
from cases.reference import _rows, kept_row
from grids.models import Area
from grids.signals import organisation_imported
from tests.api_support import isolate_throttling, token_client

# Transactions of their own, as in production: a saved change commits.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch):
    isolate_throttling(monkeypatch)
    cache.clear()  # the residents' limits are counted on the shared cache
    yield
    cache.clear()


def report(client, category, grid_code, n):
    return client.post(
        "/api/v1/cases/",
        {"title": f"楼道堆物 {n}", "description": "三楼楼道堆放纸箱", "category": category.pk, "grid": grid_code},
        format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )


def test_read_once_then_kept(tree, django_assert_num_queries):
    load = lambda: Area.objects.get(code=tree.grid_a.code)  # noqa: E731
    first = kept_row("grid-by-code", tree.grid_a.code, load)
    with django_assert_num_queries(0):
        second = kept_row("grid-by-code", tree.grid_a.code, load)
    assert first == second == tree.grid_a
    # Each caller has its own copy: what one request sets on it stays with that request.
    assert first is not second
    first.name = "changed in memory"
    assert kept_row("grid-by-code", tree.grid_a.code, load).name == tree.grid_a.name


def test_nothing_found_is_not_kept(tree, django_assert_num_queries):
    def load():
        return Area.objects.get(code="370702009009009")

    with pytest.raises(Area.DoesNotExist):
        kept_row("grid-by-code", "370702009009009", load)
    # Added past the ORM's signals (as a bulk insert would): found at once all the same.
    Area.objects.bulk_create([Area(tier="grid", code="370702009009009", name="新网格", parent=tree.community_a)])
    assert kept_row("grid-by-code", "370702009009009", load).name == "新网格"


def test_the_type_of_the_value_is_part_of_the_key(categories):
    assert kept_row("category", 1, lambda: "one") == "one"
    assert kept_row("category", True, lambda: "true") == "true"
    assert kept_row("category", "1", lambda: "text") == "text"
    assert kept_row("category", ["1"], lambda: "a list is never kept") == "a list is never kept"


def test_a_retired_category_is_refused_at_once(people, tree, categories):
    client = token_client(people[Role.GRID_WORKER])
    assert report(client, categories["dispute"], tree.grid_a.code, 1).status_code == 201
    dispute = Category.objects.get(pk=categories["dispute"].pk)
    dispute.is_active = False
    dispute.save()
    response = report(client, categories["dispute"], tree.grid_a.code, 2)
    assert response.status_code == 400
    assert "category" in response.json()
    assert Case.objects.count() == 1


def test_a_grid_given_a_new_code_is_found_by_it_and_not_by_the_old(people, tree, categories):
    client = token_client(people[Role.GRID_WORKER])
    old_code = tree.grid_a.code
    assert report(client, categories["dispute"], old_code, 1).status_code == 201
    grid = Area.objects.get(pk=tree.grid_a.pk)
    grid.code = "370702001001009"
    grid.save()
    assert report(client, categories["dispute"], old_code, 2).status_code == 400
    response = report(client, categories["dispute"], grid.code, 3)
    assert response.status_code == 201, response.content
    assert Case.objects.get(pk=response.json()["id"]).area_path == grid.path


def test_an_import_writing_areas_in_bulk_counts_at_once(tree):
    load = lambda: Area.objects.get(code=tree.grid_a.code)  # noqa: E731
    assert kept_row("grid-by-code", tree.grid_a.code, load).name == tree.grid_a.name
    Area.objects.filter(pk=tree.grid_a.pk).update(name="第一网格（新）")  # as the import's bulk_update
    organisation_imported.send(sender=None, actor=None, accepted=True)
    assert kept_row("grid-by-code", tree.grid_a.code, load).name == "第一网格（新）"


def test_the_resident_form_sees_a_category_made_private_at_once(tree, categories):
    def send(n):
        return Client().post(
            reverse("residents:report"),
            {
                "category": categories["dispute"].pk,
                "description": f"小区门口的路灯坏了一周，晚上很黑 {n}",
                "grid": tree.grid_a.pk,
            },
        )

    assert send(1).status_code == 302
    assert ("report-form-category", int, categories["dispute"].pk) in _rows._values
    dispute = Category.objects.get(pk=categories["dispute"].pk)
    dispute.public = False
    dispute.save()
    assert send(2).status_code == 400
    assert Case.objects.count() == 1


def test_a_kept_grid_is_no_pass_into_someone_elses_area(people, tree, categories, make_user):
    """The row is kept, not the right to report in it: the scope is checked on every report."""
    colleague = make_user(Role.GRID_WORKER, area=tree.grid_b, username="worker_b")
    assert report(token_client(colleague), categories["dispute"], tree.grid_b.code, 1).status_code == 201
    outsider = token_client(people[Role.GRID_WORKER])  # grid A's worker
    response = report(outsider, categories["dispute"], tree.grid_b.code, 2)
    assert response.status_code == 400 and "grid" in response.json()  # refused naming the field, as before
    assert Case.objects.filter(area_path=tree.grid_b.path).count() == 1
