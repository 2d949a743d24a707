"""The departments and categories the dashboards name, kept per process (metrics.names): an edit is seen at once,
a row added past the ORM is read from the database, and an unchanged table is not read again."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from grids.models import Department
from grids.signals import organisation_imported
from metrics import names

pytestmark = pytest.mark.django_db(transaction=True)


def test_departments_are_kept_until_one_changes(tree):
    first = names.departments([tree.dept_a.pk, tree.dept_b.pk])
    assert {pk: d.name for pk, d in first.items()} == {
        tree.dept_a.pk: "甲街道执法中队",
        tree.dept_b.pk: "乙街道执法中队",
    }
    with CaptureQueriesContext(connection) as kept:
        assert names.departments([tree.dept_a.pk]) == {tree.dept_a.pk: first[tree.dept_a.pk]}
    assert len(kept) == 0
    tree.dept_a.name = "甲街道综合执法队"
    tree.dept_a.save()
    assert names.departments([tree.dept_a.pk])[tree.dept_a.pk].name == "甲街道综合执法队"
    tree.dept_b.delete()
    assert names.departments([tree.dept_b.pk]) == {}


def test_a_department_added_past_the_orm_is_read_from_the_database(tree):
    names.departments([tree.dept_a.pk])
    (added,) = Department.objects.bulk_create([Department(name="新设部门", code="NEW", area=tree.district)])
    with CaptureQueriesContext(connection) as read:
        found = names.departments([tree.dept_a.pk, added.pk])
    assert found[added.pk].name == "新设部门" and len(read) == 1


def test_categories_are_named_with_their_group(metric_categories):
    dispute = metric_categories["dispute"]
    assert names.category_names([dispute.pk]) == {dispute.pk: ("邻里纠纷", "矛盾纠纷")}
    dispute.parent.name = "矛盾纠纷排查"
    dispute.parent.save()
    assert names.category_names([dispute.pk]) == {dispute.pk: ("邻里纠纷", "矛盾纠纷排查")}
    assert names.category_names([dispute.parent.pk]) == {dispute.parent.pk: ("矛盾纠纷排查", "")}


def test_an_import_of_the_organisation_is_seen_at_once(tree):
    names.departments([tree.dept_a.pk])
    Department.objects.filter(pk=tree.dept_a.pk).update(name="甲街道城管中队")  # in bulk, as an import writes
    organisation_imported.send(sender=None, actor=None, accepted=True)
    assert names.departments([tree.dept_a.pk])[tree.dept_a.pk].name == "甲街道城管中队"
