"""Who may administer whom: every pair of roles × every administrative action, through the admin.

The expectation is computed here from the organisation chart alone (paths as
plain strings), independently of accounts.scope, so the test checks the rule
rather than restating its code: an official administers a user only when
every post of that user lies strictly below the official's own area, or in a
department of an area the official manages; never peers, supervisors,
themselves, people without posts or superusers. Each attempt runs inside a
savepoint that is rolled back, so one success cannot change the next case.
"""

import io
from contextlib import contextmanager

import pytest
from django.db import transaction

from accounts.models import Post, User
from accounts.roles import Role
from accounts.services import save_post
from grids.models import Area, Department, PartyOrganization, Tier

PASSWORD = "Matrix-Pass-2026!"

# username: (role, area code or None, department code or None, supervisor)
PEOPLE = {
    "district": (Role.DISTRICT_STAFF, "370702", None, False),
    "district_sup": (Role.DISTRICT_STAFF, "370702", None, True),
    "street_a": (Role.STREET_STAFF, "370702001", None, False),
    "street_a_sup": (Role.STREET_STAFF, "370702001", None, True),
    "street_b": (Role.STREET_STAFF, "370702002", None, False),
    "community_a": (Role.COMMUNITY_STAFF, "370702001001", None, False),
    "community_a_sup": (Role.COMMUNITY_STAFF, "370702001001", None, True),
    "community_b": (Role.COMMUNITY_STAFF, "370702002001", None, False),
    "grid_a": (Role.GRID_WORKER, "370702001001001", None, False),
    "grid_b": (Role.GRID_WORKER, "370702002001001", None, False),
    "leader_a": (Role.STREET_LEADER, "370702001001001001", None, False),
    "dept_ga": (Role.DEPARTMENT_STAFF, None, "GA", False),
    "dept_a": (Role.DEPARTMENT_STAFF, None, "ZD-A", False),
    "dept_b": (Role.DEPARTMENT_STAFF, None, "ZD-B", False),
}
NO_POSTS = ["root", "auditor"]
ACTORS = [*PEOPLE, "root"]
TARGETS = [*PEOPLE, *NO_POSTS]
DEPARTMENT_AREA = {"GA": "370702", "ZD-A": "370702001", "ZD-B": "370702002"}
MANAGING = {Role.DISTRICT_STAFF, Role.STREET_STAFF, Role.COMMUNITY_STAFF}
# A grid below each managing official's area, where they may give a post.
GRID_BELOW = {"370702": "370702002001001", "370702001": "370702001001001", "370702002": "370702002001001"}
GRID_BELOW.update({"370702001001": "370702001001001", "370702002001": "370702002001001"})


def path(code):
    """The materialised path of an area code in the conftest tree: each ancestor's code, slash-terminated."""
    lengths = [6, 9, 12, 15, 18]
    return "".join(f"{code[:n]}/" for n in lengths if n <= len(code))


def managed_path(actor):
    role, area, _dept, _sup = PEOPLE[actor]
    return path(area) if role in MANAGING else None


def expected_administers(actor, target):
    if actor == "root":
        return True
    if target in NO_POSTS or target == actor:
        return False
    mine = managed_path(actor)
    if mine is None:
        return False
    _role, area, dept, _sup = PEOPLE[target]
    if dept is not None:
        return path(DEPARTMENT_AREA[dept]).startswith(mine)
    theirs = path(area)
    return theirs.startswith(mine) and theirs != mine


@pytest.fixture
def org(tree, make_user):
    users = {"root": make_user(superuser=True, username="root"), "auditor": make_user(username="auditor")}
    for username, (role, area, dept, supervisor) in PEOPLE.items():
        user = User.objects.create_user(username=username, password=PASSWORD, real_name=username)
        save_post(
            actor=None,
            post=Post(
                user=user,
                role=role,
                area=Area.objects.get(code=area) if area else None,
                department=Department.objects.get(code=dept) if dept else None,
                is_supervisor=supervisor,
            ),
        )
        users[username] = User.objects.get(pk=user.pk)
    return users


class _Rollback(Exception):
    pass


@contextmanager
def rolled_back():
    try:
        with transaction.atomic():
            yield
            raise _Rollback
    except _Rollback:
        pass


def as_actor(client, org, actor):
    client.force_login(org[actor])
    return client


def user_form(user, **changes):
    data = {
        "username": user.username,
        "real_name": user.real_name,
        "mobile": user.mobile,
        "email": user.email,
        "is_active": "on" if user.is_active else "",
        # The posts inline: no rows sent, so existing posts are left as they are.
        "posts-TOTAL_FORMS": "0",
        "posts-INITIAL_FORMS": "0",
        "posts-MIN_NUM_FORMS": "0",
        "posts-MAX_NUM_FORMS": "1000",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v != ""}


def grid_for(actor):
    mine = PEOPLE.get(actor, (None, None, None, None))[1]
    return Area.objects.get(code=GRID_BELOW.get(mine, "370702001001001"))


ACTIONS = ["add_post", "change_post", "change_user", "set_password", "deactivate"]


def attempt(client, org, actor, target, action):
    """Try ``action`` on ``target`` as ``actor``; return whether it took effect."""
    user = org[target]
    if action == "add_post":
        grid = grid_for(actor)
        before = Post.objects.filter(user=user).count()
        client.post(
            "/admin/accounts/post/add/",
            {"user": user.pk, "role": Role.STREET_LEADER, "area": grid.pk, "is_full_time": "on"},
        )
        return Post.objects.filter(user=user).count() > before
    if action == "change_post":
        post = Post.objects.filter(user=user).first()
        if post is None:
            return None
        client.post(
            f"/admin/accounts/post/{post.pk}/change/",
            {
                "user": user.pk,
                "role": post.role,
                "area": post.area_id or "",
                "department": post.department_id or "",
                "is_supervisor": "on",
                "is_full_time": "on",
                "title": "changed",
            },
        )
        return Post.objects.get(pk=post.pk).title == "changed"
    if action == "change_user":
        client.post(f"/admin/accounts/user/{user.pk}/change/", user_form(user, real_name="改过的名字"))
        return User.objects.get(pk=user.pk).real_name == "改过的名字"
    if action == "set_password":
        new = "Taken-Over-2026!x"
        client.post(f"/admin/accounts/user/{user.pk}/password/", {"password1": new, "password2": new})
        return User.objects.get(pk=user.pk).check_password(new)
    if action == "deactivate":
        client.post(f"/admin/accounts/user/{user.pk}/change/", user_form(user, is_active=""))
        return not User.objects.get(pk=user.pk).is_active
    raise AssertionError(action)


@pytest.mark.django_db
@pytest.mark.parametrize("actor", ACTORS)
def test_every_administrative_action_follows_the_rule(actor, org, client):
    as_actor(client, org, actor)
    wrong = []
    for target in TARGETS:
        expected = expected_administers(actor, target)
        for action in ACTIONS:
            # Changing a password cycles the session key; a rolled-back session row would log the actor out.
            as_actor(client, org, actor)
            with rolled_back():
                took_effect = attempt(client, org, actor, target, action)
            if took_effect is not None and took_effect != expected:
                wrong.append(f"{actor} {action} {target}: {'done' if took_effect else 'refused'}")
    assert wrong == []


@pytest.mark.django_db
def test_the_expectation_is_not_trivial():
    """The matrix holds both outcomes for officials, so a rule that allows or refuses everything fails it."""
    for actor in ["district", "street_a", "community_a"]:
        outcomes = {expected_administers(actor, t) for t in TARGETS}
        assert outcomes == {True, False}
    assert not expected_administers("community_a", "district")
    assert not expected_administers("street_a", "street_a_sup")
    assert not expected_administers("district", "district_sup")
    assert expected_administers("district", "dept_ga")
    assert not expected_administers("street_a", "dept_ga")
    assert expected_administers("street_a", "dept_a")


# --- the critical report, as it was filed ------------------------------------------------


@pytest.mark.django_db
def test_community_official_cannot_take_over_a_district_account_through_a_post(org, client):
    as_actor(client, org, "community_a")
    district = org["district"]
    response = client.post(
        "/admin/accounts/post/add/",
        {"user": district.pk, "role": Role.GRID_WORKER, "area": Area.objects.get(code="370702001001001").pk},
    )
    assert response.status_code in (200, 403)  # a form error or a refusal, never a redirect
    assert not Post.objects.filter(user=district, role=Role.GRID_WORKER).exists()
    response = client.post(
        f"/admin/accounts/user/{district.pk}/password/",
        {"password1": "Owned-2026!pass", "password2": "Owned-2026!pass"},
    )
    assert response.status_code in (403, 404, 302)
    assert User.objects.get(pk=district.pk).check_password(PASSWORD)


@pytest.mark.django_db
def test_official_cannot_make_own_post_a_supervisor_post(org, client):
    as_actor(client, org, "street_a")
    post = Post.objects.get(user=org["street_a"])
    client.post(
        f"/admin/accounts/post/{post.pk}/change/",
        {"user": org["street_a"].pk, "role": post.role, "area": post.area_id, "is_supervisor": "on"},
    )
    assert not Post.objects.get(pk=post.pk).is_supervisor


@pytest.mark.django_db
def test_official_cannot_hand_a_post_to_someone_else(org, client):
    """Changing a post's holder would move a managed post onto a person outside the official's reach."""
    as_actor(client, org, "street_a")
    post = Post.objects.get(user=org["grid_a"])
    client.post(
        f"/admin/accounts/post/{post.pk}/change/",
        {"user": org["district"].pk, "role": post.role, "area": post.area_id},
    )
    assert Post.objects.get(pk=post.pk).user == org["grid_a"]


@pytest.mark.django_db
def test_official_creates_a_new_person_with_a_post_below_them(org, client):
    as_actor(client, org, "street_a")
    grid = Area.objects.get(code="370702001001001")
    response = client.post(
        "/admin/accounts/user/add/",
        {
            "username": "newgrid",
            "real_name": "新网格员",
            "password1": "Fresh-Grid-2026!",
            "password2": "Fresh-Grid-2026!",
            "usable_password": "true",
            "posts-TOTAL_FORMS": "1",
            "posts-INITIAL_FORMS": "0",
            "posts-MIN_NUM_FORMS": "1",
            "posts-MAX_NUM_FORMS": "1000",
            "posts-0-role": Role.GRID_WORKER,
            "posts-0-area": grid.pk,
            "posts-0-is_full_time": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    user = User.objects.get(username="newgrid")
    assert org["street_a"].scope.administers(user)
    assert not user.is_superuser


@pytest.mark.django_db
def test_post_changes_are_in_the_security_log(org, client):
    from accounts.models import SecurityEvent

    as_actor(client, org, "street_a")
    client.post(
        "/admin/accounts/post/add/",
        {"user": org["grid_a"].pk, "role": Role.STREET_LEADER, "area": Area.objects.get(code="370702001001001").pk},
    )
    event = SecurityEvent.objects.get(kind=SecurityEvent.Kind.POST_CHANGED)
    assert event.actor == org["street_a"] and event.target_user == org["grid_a"]
    assert event.detail["after"]["role"] == Role.STREET_LEADER


# --- the organisation import: where a row's record is now, and where it goes ------------------

IMPORT_HEADER = "类型,层级,编码,名称,上级编码,人口,户数,党员数,负责人,电话\n"


def import_rows(client, text):
    f = io.BytesIO((IMPORT_HEADER + text).encode("utf-8"))
    f.name = "org.csv"
    return client.post("/admin/grids/area/import/", {"file": f})


@pytest.fixture
def party(tree):
    return PartyOrganization.objects.create(
        code="P-B1", name="乙一社区党委", kind="community_committee", area=Area.objects.get(code="370702002001")
    )


# Each row, and the managing actors whose import of it may land (computed from the chart above).
IMPORT_CASES = {
    # move the district police into street A
    "move_district_department": ("部门,,GA,区公安分局,370702001,,,,,", {"district", "district_sup"}),
    # rename the district police in place
    "rename_district_department": ("部门,,GA,改名公安,370702,,,,,", {"district", "district_sup"}),
    # move street B's squad into street A
    "move_other_street_department": ("部门,,ZD-B,乙中队,370702001,,,,,", {"district", "district_sup"}),
    # another community's party committee into community A
    "move_other_party": ("党组织,社区党委,P-B1,乙一社区党委,370702001001,,,,,", {"district", "district_sup"}),
    # re-parent community B under street A
    "reparent_community": ("区域,社区,370702002001,乙一社区,370702001,,,,,", set()),
    # rename a community of street B
    "rename_community": ("区域,社区,370702002001,乙一新名,370702002,,,,,", {"district", "district_sup", "street_b"}),
    # rename one's own street
    "rename_street_a": ("区域,街道,370702001,甲新名,370702,,,,,", {"district", "district_sup"}),
}


def import_took_effect(name):
    if name == "move_district_department":
        return Department.objects.get(code="GA").area.code == "370702001"
    if name == "rename_district_department":
        return Department.objects.get(code="GA").name == "改名公安"
    if name == "move_other_street_department":
        return Department.objects.get(code="ZD-B").area.code == "370702001"
    if name == "move_other_party":
        return PartyOrganization.objects.get(code="P-B1").area.code == "370702001001"
    if name == "reparent_community":
        return Area.objects.get(code="370702002001").parent.code == "370702001"
    if name == "rename_community":
        return Area.objects.get(code="370702002001").name == "乙一新名"
    if name == "rename_street_a":
        return Area.objects.get(code="370702001").name == "甲新名"
    raise AssertionError(name)


@pytest.mark.django_db
@pytest.mark.parametrize("actor", [a for a in ACTORS if a == "root" or PEOPLE[a][0] in MANAGING])
def test_import_checks_each_row_where_it_is_and_where_it_goes(actor, org, party, client):
    as_actor(client, org, actor)
    wrong = []
    for name, (row, allowed) in IMPORT_CASES.items():
        with rolled_back():
            import_rows(client, row + "\n")
            took_effect = import_took_effect(name)
        # A code is national: re-parenting a community would change its code, which the tree refuses for all.
        expected = name != "reparent_community" and (actor == "root" or actor in allowed)
        if took_effect != expected:
            wrong.append(f"{actor} {name}: {'done' if took_effect else 'refused'}")
    assert wrong == []


@pytest.mark.django_db
def test_street_import_of_district_department_names_the_row(org, client):
    as_actor(client, org, "street_a")
    response = import_rows(client, "部门,,GA,区公安分局,370702001,,,,,\n")
    assert response.status_code == 400
    assert "GA" in response.content.decode()
    assert Department.objects.get(code="GA").area.tier == Tier.DISTRICT
