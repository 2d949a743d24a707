"""What each role may see and change in the admin, inside and outside its subtree."""

import pytest

from accounts.models import Post, User
from accounts.roles import Role
from grids.models import Area

AREA_CHANGELIST = "/admin/grids/area/"


def area_url(area):
    return f"/admin/grids/area/{area.pk}/change/"


def visible_area_codes(client):
    response = client.get(AREA_CHANGELIST + "?all=")
    assert response.status_code == 200
    return {a.code for a in response.context["cl"].result_list}


# Which areas each role sees in the area list (codes are of the conftest tree).
STREET_A_SUBTREE = {"370702001", "370702001001", "370702001001001", "370702001001001001"}
EXPECTED_VISIBLE = {
    Role.DISTRICT_STAFF: None,  # everything
    Role.STREET_STAFF: STREET_A_SUBTREE,
    Role.COMMUNITY_STAFF: STREET_A_SUBTREE - {"370702001"},
    Role.GRID_WORKER: {"370702001001001", "370702001001001001"},
    Role.STREET_LEADER: {"370702001001001001"},
    Role.DEPARTMENT_STAFF: STREET_A_SUBTREE,  # the street its department serves, read-only
}


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(EXPECTED_VISIBLE))
def test_area_list_shows_exactly_the_subtree(role, tree, people, client):
    client.force_login(people[role])
    expected = EXPECTED_VISIBLE[role] or set(Area.objects.values_list("code", flat=True))
    assert visible_area_codes(client) == expected


@pytest.mark.django_db
def test_area_list_query_count_does_not_grow_with_rows(tree, people, client, django_assert_max_num_queries):
    client.force_login(people[Role.DISTRICT_STAFF])
    client.get(AREA_CHANGELIST)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        client.get(AREA_CHANGELIST)
    for i in range(2, 40):
        Area.objects.create(tier="community", code=f"370702001{i:03d}", name=f"社区{i}", parent=tree.street_a)
    with CaptureQueriesContext(connection) as large:
        client.get(AREA_CHANGELIST)
    assert len(large) == len(small)


@pytest.mark.django_db
class TestStreetOfficial:
    def test_edits_a_community_in_own_street(self, tree, people, client):
        client.force_login(people[Role.STREET_STAFF])
        response = client.post(
            area_url(tree.community_a),
            {
                "tier": "community",
                "code": tree.community_a.code,
                "name": "甲一社区（新）",
                "parent": tree.street_a.pk,
                "population": 5100,
                "households": 1900,
                "boundary": "",
            },
        )
        assert response.status_code == 302, response.content.decode()[:2000]
        tree.community_a.refresh_from_db()
        assert tree.community_a.name == "甲一社区（新）"

    def test_cannot_open_an_area_of_another_street(self, tree, people, client):
        client.force_login(people[Role.STREET_STAFF])
        response = client.get(area_url(tree.community_b))
        assert response.status_code == 302  # the admin's "does not exist" redirect
        response = client.post(area_url(tree.community_b), {"name": "被改"})
        tree.community_b.refresh_from_db()
        assert tree.community_b.name == "乙一社区"

    def test_own_street_is_read_only(self, tree, people, client):
        client.force_login(people[Role.STREET_STAFF])
        response = client.get(area_url(tree.street_a))
        assert response.status_code == 200
        assert response.context["has_change_permission"] is False
        client.post(
            area_url(tree.street_a), {"tier": "street", "code": "370702001", "name": "改名", "parent": tree.district.pk}
        )
        tree.street_a.refresh_from_db()
        assert tree.street_a.name == "甲街道"

    def test_cannot_move_a_community_to_another_street(self, tree, people, client):
        client.force_login(people[Role.STREET_STAFF])
        response = client.post(
            area_url(tree.community_a),
            {
                "tier": "community",
                "code": tree.community_a.code,
                "name": "甲一社区",
                "parent": tree.street_b.pk,
                "population": 0,
                "households": 0,
                "boundary": "",
            },
        )
        assert response.status_code == 200
        assert "parent" in response.context["adminform"].form.errors
        tree.community_a.refresh_from_db()
        assert tree.community_a.parent_id == tree.street_a.pk

    def test_adds_a_grid_worker_in_own_street(self, tree, people, client):
        client.force_login(people[Role.STREET_STAFF])
        response = client.post("/admin/accounts/user/add/", new_user_payload("newgw", tree.grid_a.pk))
        assert response.status_code == 302, response.content.decode()[:3000]
        user = User.objects.get(username="newgw")
        assert list(user.posts.values_list("role", "area__code")) == [("grid_worker", "370702001001001")]
        assert user.is_staff and user.groups.filter(name="grid_worker").exists()

    def test_cannot_post_a_user_outside_own_street(self, tree, people, client):
        client.force_login(people[Role.STREET_STAFF])
        users, posts = User.objects.count(), Post.objects.count()
        response = client.post("/admin/accounts/user/add/", new_user_payload("spy", tree.grid_b.pk))
        assert response.status_code == 200
        assert "area" in response.context["inline_admin_formsets"][0].formset.errors[0]
        assert (User.objects.count(), Post.objects.count()) == (users, posts)

    def test_cannot_give_an_existing_user_a_post_outside(self, tree, people, client, make_user):
        client.force_login(people[Role.STREET_STAFF])
        worker = people[Role.GRID_WORKER]
        post = worker.posts.get()
        payload = {
            "username": worker.username,
            "real_name": worker.real_name,
            "mobile": "",
            "email": "",
            "is_active": "on",
            "posts-TOTAL_FORMS": "1",
            "posts-INITIAL_FORMS": "1",
            "posts-MIN_NUM_FORMS": "0",
            "posts-MAX_NUM_FORMS": "1000",
            "posts-0-id": post.pk,
            "posts-0-user": worker.pk,
            "posts-0-role": "grid_worker",
            "posts-0-area": tree.grid_b.pk,
            "posts-0-department": "",
            "posts-0-is_full_time": "on",
            "posts-0-title": "",
        }
        response = client.post(f"/admin/accounts/user/{worker.pk}/change/", payload)
        assert response.status_code == 200
        post.refresh_from_db()
        assert post.area_id == tree.grid_a.pk

    def test_cannot_make_anyone_superuser(self, tree, people, client):
        client.force_login(people[Role.STREET_STAFF])
        worker = people[Role.GRID_WORKER]
        response = client.get(f"/admin/accounts/user/{worker.pk}/change/")
        assert response.status_code == 200
        assert "is_superuser" not in response.content.decode()

    def test_sees_only_users_of_own_street(self, tree, people, client, make_user):
        outsider = make_user(Role.GRID_WORKER, area=tree.grid_b, username="grid_b")
        client.force_login(people[Role.STREET_STAFF])
        response = client.get("/admin/accounts/user/")
        names = {u.username for u in response.context["cl"].result_list}
        assert {"street_a", "community_a", "grid_a", "leader_a", "dept_a"} <= names
        assert outsider.username not in names and "root" not in names and "district" not in names
        assert client.get(f"/admin/accounts/user/{outsider.pk}/change/").status_code == 302


def new_user_payload(username, area_pk):
    return {
        "username": username,
        "real_name": "新网格员",
        "mobile": "13900009999",
        "password1": "Long-enough-pw-2026",
        "password2": "Long-enough-pw-2026",
        "posts-TOTAL_FORMS": "1",
        "posts-INITIAL_FORMS": "0",
        "posts-MIN_NUM_FORMS": "1",
        "posts-MAX_NUM_FORMS": "1000",
        "posts-0-role": "grid_worker",
        "posts-0-area": area_pk,
        "posts-0-department": "",
        "posts-0-is_full_time": "on",
        "posts-0-title": "专职网格员",
    }


@pytest.mark.django_db
class TestOtherRoles:
    def test_community_staff_cannot_add_a_street(self, tree, people, client):
        client.force_login(people[Role.COMMUNITY_STAFF])
        before = Area.objects.count()
        response = client.post(
            "/admin/grids/area/add/",
            {
                "tier": "community",
                "code": "370702001009",
                "name": "新",
                "parent": tree.street_a.pk,
                "population": 0,
                "households": 0,
            },
        )
        assert response.status_code == 200  # parent outside its subtree: form error
        assert Area.objects.count() == before

    def test_community_staff_adds_a_grid_in_its_community(self, tree, people, client):
        client.force_login(people[Role.COMMUNITY_STAFF])
        response = client.post(
            "/admin/grids/area/add/",
            {
                "tier": "grid",
                "code": "370702001001002",
                "name": "甲一第二网格",
                "parent": tree.community_a.pk,
                "population": 100,
                "households": 40,
                "boundary": "",
            },
        )
        assert response.status_code == 302, response.content.decode()[:2000]
        assert Area.objects.get(code="370702001001002").path.startswith(tree.community_a.path)

    @pytest.mark.parametrize("role", [Role.GRID_WORKER, Role.STREET_LEADER, Role.DEPARTMENT_STAFF])
    def test_field_roles_cannot_change_the_organisation(self, role, tree, people, client):
        client.force_login(people[role])
        assert client.get("/admin/grids/area/add/").status_code == 403
        response = client.post(area_url(tree.grid_a), {"name": "改"})
        assert response.status_code in (302, 403)
        tree.grid_a.refresh_from_db()
        assert tree.grid_a.name == "甲一网格"
        assert client.get("/admin/accounts/user/").status_code == 403

    def test_department_staff_sees_own_street_departments_only(self, tree, people, client):
        client.force_login(people[Role.DEPARTMENT_STAFF])
        response = client.get("/admin/grids/department/")
        codes = {d.code for d in response.context["cl"].result_list}
        assert "ZD-A" in codes and "ZD-B" not in codes and "GA" not in codes

    def test_district_staff_sees_and_edits_everything_below(self, tree, people, client):
        client.force_login(people[Role.DISTRICT_STAFF])
        response = client.get(area_url(tree.community_b))
        assert response.context["has_change_permission"] is True
        response = client.get(area_url(tree.district))
        assert response.context["has_change_permission"] is False


@pytest.mark.django_db
def test_scope_is_one_query_per_user(tree, people, django_assert_num_queries):
    from accounts.scope import scope_for

    user = User.objects.get(pk=people[Role.STREET_STAFF].pk)
    with django_assert_num_queries(1):
        scope = scope_for(user)
        scope_for(user)
    assert scope.area_paths == (tree.street_a.path,)
    assert scope.case_paths == (tree.street_a.path,)


@pytest.mark.django_db
def test_street_leader_sees_no_cases_by_area(tree, people):
    scope = people[Role.STREET_LEADER].scope
    assert scope.area_paths == (tree.building_a.path,)
    assert scope.case_paths == ()
