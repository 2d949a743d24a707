"""The organisation pages officials browse: the area tree, people with their posts, the calendar at this
year, one grid preselected, settings that are always there."""

import pytest
from django.utils import timezone

from accounts.roles import Role
from cases.models import WorkflowSettings
from metrics.models import MetricsSettings


@pytest.mark.django_db
def test_areas_drill_down_with_child_counts_and_a_trail(client, people, tree):
    client.force_login(people[Role.STREET_STAFF])
    response = client.get(f"/admin/grids/area/?parent__id__exact={tree.community_a.pk}")
    assert response.status_code == 200
    rows = list(response.context["cl"].result_list)
    assert [a.code for a in rows] == [tree.grid_a.code]
    assert rows[0].children_count == 1  # its building
    trail = [a.name for a in response.context["area_trail"]]
    # From the street official's own street down; the district above them is not theirs to browse.
    assert trail == [tree.street_a.name, tree.community_a.name]
    assert f"?parent__id__exact={tree.grid_a.pk}" in response.content.decode()


@pytest.mark.django_db
def test_area_trail_never_shows_another_street(client, people, tree):
    client.force_login(people[Role.STREET_STAFF])
    response = client.get(f"/admin/grids/area/?parent__id__exact={tree.community_b.pk}")
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [] and response.context["area_trail"] == []


@pytest.mark.django_db
def test_users_are_listed_with_their_posts_without_a_query_per_row(client, people, tree, make_user):
    client.force_login(people[Role.STREET_STAFF])
    response = client.get("/admin/accounts/user/")
    page = response.content.decode()
    assert "社区工作人员 · 甲一社区" in page and "网格员 · 甲一网格" in page
    for i in range(10):
        make_user(Role.GRID_WORKER, area=tree.grid_a, username=f"more{i}")
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get("/admin/accounts/user/")
    for i in range(10, 30):
        make_user(Role.GRID_WORKER, area=tree.grid_a, username=f"more{i}")
    with CaptureQueriesContext(connection) as many:
        client.get("/admin/accounts/user/")
    assert len(many) == len(few)


@pytest.mark.django_db
def test_work_calendar_opens_at_this_year(client, people):
    client.force_login(people[Role.DISTRICT_STAFF])
    response = client.get("/admin/cases/workcalendarday/")
    assert response.status_code == 302
    assert response["Location"].endswith(f"?date__year={timezone.localdate().year}")
    assert client.get(response["Location"]).status_code == 200


@pytest.mark.django_db
def test_a_grid_worker_finds_their_grid_chosen(client, people, tree):
    client.force_login(people[Role.GRID_WORKER])
    form = client.get("/admin/cases/case/add/").context["adminform"].form
    assert form.initial.get("grid") == tree.grid_a.pk
    client.force_login(people[Role.DISTRICT_STAFF])  # two grids to choose from
    assert "grid" not in client.get("/admin/cases/case/add/").context["adminform"].form.initial


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("model", "url"), [(WorkflowSettings, "cases/workflowsettings"), (MetricsSettings, "metrics/metricssettings")]
)
def test_settings_list_opens_the_one_row_for_district_staff(client, people, model, url):
    model.objects.all().delete()
    client.force_login(people[Role.DISTRICT_STAFF])
    response = client.get(f"/admin/{url}/")
    row = model.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/admin/{url}/{row.pk}/change/"
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert client.get(f"/admin/{url}/add/").status_code == 403
    assert client.post(f"/admin/{url}/{row.pk}/delete/").status_code == 403
    assert model.objects.count() == 1
