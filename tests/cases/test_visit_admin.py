"""The back office for patrols and visits: the scoped list and its filters, recording, read-only for others,
a finding reported as a case from the record's page, and the households a party-member household looks after."""

import datetime as dt

import pytest
from django.utils import timezone

from accounts.roles import Role
from cases import visits
from cases.models import Case, Visit, VisitKind
from grids.models import LinkedHousehold, PartyOrganization, PartyOrgKind

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _record(actor, grid, **extra):
    start = timezone.now() - dt.timedelta(hours=3)
    return visits.record_visit(
        actor=actor,
        kind=extra.pop("kind", VisitKind.PATROL),
        grid=grid,
        started_at=start,
        ended_at=start + dt.timedelta(hours=1),
        **extra,
    )


def _form(grid, **overrides):
    start = timezone.localtime() - dt.timedelta(hours=3)
    end = start + dt.timedelta(hours=1)
    data = {
        "kind": "household",
        "grid": grid.pk,
        "started_at_0": f"{start:%Y-%m-%d}",
        "started_at_1": f"{start:%H:%M:%S}",
        "ended_at_0": f"{end:%Y-%m-%d}",
        "ended_at_1": f"{end:%H:%M:%S}",
        "households": "4",
        "people_met": "6",
        "findings": "两户反映楼道灯不亮",
        "cases-TOTAL_FORMS": "0",
        "cases-INITIAL_FORMS": "0",
    }
    data.update(overrides)
    return data


def test_list_is_scoped_and_filters(client, role_groups, people, tree, make_user):
    worker = people[Role.GRID_WORKER]
    mine = _record(worker, tree.grid_a, findings="路灯不亮")
    other_worker = make_user(Role.GRID_WORKER, area=tree.grid_b, username="grid_b")
    theirs = _record(other_worker, tree.grid_b)
    client.force_login(worker)
    page = client.get("/admin/cases/visit/")
    assert page.status_code == 200
    assert list(page.context["cl"].result_list) == [mine]
    client.force_login(people[Role.DISTRICT_STAFF])
    for query, expected in [
        ("", {mine, theirs}),
        ("?kind__exact=patrol", {mine, theirs}),
        (f"?grid__id__exact={tree.grid_b.pk}", {theirs}),
        (f"?recorded_by__id__exact={worker.pk}", {mine}),
        # The month the visits were made in (three hours ago: another month just after local midnight).
        (f"?month={timezone.localtime(mine.started_at):%Y-%m}", {mine, theirs}),
        (f"?area_path__startswith={tree.street_a.path}", {mine}),
    ]:
        response = client.get(f"/admin/cases/visit/{query}")
        assert response.status_code == 200, query
        assert set(response.context["cl"].result_list) == expected, query
    # A lookup nobody allowed is refused, as everywhere in the admin.
    assert client.get("/admin/cases/visit/?findings__startswith=路").status_code == 400


def test_record_from_the_admin_and_refuse_another_grid(client, role_groups, people, tree):
    worker = people[Role.GRID_WORKER]
    client.force_login(worker)
    assert client.get("/admin/cases/visit/add/").status_code == 200
    response = client.post("/admin/cases/visit/add/", _form(tree.grid_a))
    assert response.status_code == 302, response.context["adminform"].form.errors
    visit = Visit.objects.get()
    assert (visit.recorded_by, visit.grid, visit.households) == (worker, tree.grid_a, 4)
    response = client.post("/admin/cases/visit/add/", _form(tree.grid_b))
    assert response.status_code == 200 and "grid" in response.context["adminform"].form.errors
    bad = _form(tree.grid_a, ended_at_0=(timezone.localdate() - dt.timedelta(days=2)).isoformat())
    response = client.post("/admin/cases/visit/add/", bad)
    assert "ended_at" in response.context["adminform"].form.errors
    assert Visit.objects.count() == 1


def test_someone_elses_record_is_read_only(client, role_groups, people, tree):
    visit = _record(people[Role.GRID_WORKER], tree.grid_a, findings="原记录")
    staff = people[Role.COMMUNITY_STAFF]
    client.force_login(staff)
    page = client.get(f"/admin/cases/visit/{visit.pk}/change/")
    assert page.status_code == 200 and not page.context["has_change_permission"]
    response = client.post(f"/admin/cases/visit/{visit.pk}/change/", {"findings": "改写"})
    assert response.status_code == 403
    visit.refresh_from_db()
    assert visit.findings == "原记录"
    client.force_login(people[Role.GRID_WORKER])
    assert client.get(f"/admin/cases/visit/{visit.pk}/change/").context["has_change_permission"]


def test_a_finding_reported_as_a_case_from_the_record_page(client, role_groups, people, tree, categories):
    worker = people[Role.GRID_WORKER]
    visit = _record(worker, tree.grid_a, findings="消防通道被占")
    client.force_login(worker)
    url = f"/admin/cases/visit/{visit.pk}/report/"
    assert client.get(url).status_code == 200
    response = client.post(url, {"title": "消防通道被占", "category": categories["dispute"].pk})
    assert response.status_code == 302
    case = Case.objects.get()
    assert case.visit == visit and case.description == "消防通道被占"
    page = client.get(f"/admin/cases/visit/{visit.pk}/change/")
    assert case.number in page.content.decode()
    client.force_login(people[Role.DEPARTMENT_STAFF])
    assert client.get(url).status_code in (403, 404)


def test_party_member_household_looks_after_buildings_of_its_grid(client, role_groups, people, tree):
    party = PartyOrganization.objects.create(
        kind=PartyOrgKind.MEMBER_HOUSEHOLD, code="H1", name="甲一楼院党员中心户", area=tree.building_a
    )
    client.force_login(people[Role.COMMUNITY_STAFF])
    url = f"/admin/grids/partyorganization/{party.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200 and "linked_households-TOTAL_FORMS" in page.content.decode()
    data = {
        "kind": party.kind,
        "code": party.code,
        "name": party.name,
        "area": tree.building_a.pk,
        "secretary": "",
        "members": "1",
        "linked_households-TOTAL_FORMS": "1",
        "linked_households-INITIAL_FORMS": "0",
        "linked_households-0-building": tree.building_a.pk,
        "linked_households-0-address": "2单元",
        "linked_households-0-households": "9",
    }
    response = client.post(url, data)
    assert response.status_code == 302, response.context["inline_admin_formsets"][0].formset.errors
    assert LinkedHousehold.objects.get().households == 9
    client.force_login(people[Role.GRID_WORKER])  # sees the households looked after, changes nothing
    page = client.get(url).content.decode()
    assert "2单元" in page and 'name="linked_households-0-households"' not in page
    data["linked_households-0-households"] = "90"
    assert client.post(url, data).status_code == 403
    assert LinkedHousehold.objects.get().households == 9


def test_every_admin_page_reads_the_posts_once(client, role_groups, people, tree):
    """The add button of the visits (a field post needed) comes from the posts the scope read."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    worker = people[Role.GRID_WORKER]
    assert visits.field_paths(worker) == (tree.grid_a.path,) and visits.may_record_any(worker)
    assert not visits.may_record_any(people[Role.DISTRICT_STAFF])
    client.force_login(worker)
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/admin/cases/case/").content.decode()
    assert "/admin/cases/visit/add/" in page
    posts = [
        q["sql"] for q in queries.captured_queries if q["sql"].partition(" FROM ")[2].startswith('"accounts_post"')
    ]
    assert len(posts) == 1, posts
