"""Bulk work in the case list goes through the services case by case: what may move moves, the rest
stays exactly as it was and the result page says why — including ids from outside the user's scope."""

import pytest
from django.contrib.admin import helpers

from accounts.roles import Role
from cases.models import Case, Status

CHANGELIST = "/admin/cases/case/?view=all"


def _post(client, action, ids, **data):
    return client.post(
        CHANGELIST,
        {"action": action, helpers.ACTION_CHECKBOX_NAME: [str(i) for i in ids], "apply": "1", **data},
    )


@pytest.mark.django_db
def test_assess_and_assign_moves_what_it_may_and_names_the_rest(client, people, tree, make_case):
    mine = [make_case(), make_case("assessed")]
    finished = make_case("fed_back")
    outside = make_case(grid=tree.grid_b)
    client.force_login(people[Role.STREET_STAFF])
    response = _post(
        client, "bulk_assess_assign", [*(c.pk for c in mine), finished.pk, outside.pk], area=tree.community_a.pk
    )
    assert response.status_code == 200
    outcome = response.context["outcome"]
    assert {c.pk for c in outcome.moved} == {c.pk for c in mine}
    refused = {getattr(item, "pk", item): reason for item, reason in outcome.refused}
    assert set(refused) == {finished.pk, outside.pk}
    assert refused[outside.pk] == "您的权限范围内无此案件。"
    for case in mine:
        case.refresh_from_db()
        assert case.status == Status.ASSIGNED and case.handling_area == tree.community_a
    assert Case.objects.get(pk=finished.pk).status == Status.FED_BACK
    # The case in the other street was neither seen nor touched.
    untouched = Case.objects.get(pk=outside.pk)
    assert untouched.status == Status.REPORTED and untouched.handling_area_id is None


@pytest.mark.django_db
def test_a_refused_assignment_leaves_the_assessment_undone(client, people, tree, make_case):
    """Assess then assign is one unit per case: a unit that does not serve the case undoes its assessment."""
    case = make_case()
    client.force_login(people[Role.DISTRICT_STAFF])
    response = _post(client, "bulk_assess_assign", [case.pk], department=tree.dept_b.pk)
    outcome = response.context["outcome"]
    assert outcome.moved == [] and len(outcome.refused) == 1
    case.refresh_from_db()
    assert case.status == Status.REPORTED and case.assessed_at is None


@pytest.mark.django_db
def test_grid_worker_cannot_bulk_assign(client, people, make_case):
    case = make_case()
    client.force_login(people[Role.GRID_WORKER])
    response = _post(client, "bulk_assess_assign", [case.pk], area=case.grid.parent_id)
    assert Case.objects.get(pk=case.pk).status == Status.REPORTED
    assert response.status_code in (200, 302, 403)
