"""Hot reads whose SQL the ORM builds once per process (gov_platform.prepared): the same statement and the same
rows as the queryset, and the ORM itself for whatever the plan cannot account for."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Post
from accounts.roles import Role
from accounts.scope import _scope_posts, scope_for
from accounts.selectors import POST_VALUES, _posts_at_paths, _working, posts_at_paths
from gov_platform.prepared import prepared_values
from grids.models import Area, Tier, ancestor_paths

pytestmark = pytest.mark.django_db


def build_at_paths(paths, tiers):
    return _working(Post.objects.filter(area__path__in=paths, area__tier__in=tiers)).values(*POST_VALUES, "area__tier")


def read(function, *args):
    """The rows and the statements of a call."""
    with CaptureQueriesContext(connection) as queries:
        rows = function(*args)
    return rows, [q["sql"] for q in queries.captured_queries]


def test_the_same_statement_and_rows_as_the_queryset(tree, people):
    prepared = prepared_values(Post)(build_at_paths)
    paths = ancestor_paths(tree.grid_a.path)
    tiers = [Tier.COMMUNITY, Tier.STREET]
    expected, orm_sql = read(lambda: list(build_at_paths(paths, tiers)))
    assert expected  # the community's and the street's staff
    for _ in range(2):  # planned on the first call, then run from the plan
        rows, sql = read(prepared, paths, tiers)
        assert rows == expected
        assert sql == orm_sql
    # Other values of the same shape go where the first ones went.
    other_paths = ancestor_paths(tree.grid_b.path)
    rows, sql = read(prepared, other_paths, tiers)
    assert rows == list(build_at_paths(other_paths, tiers))
    assert sql == read(lambda: list(build_at_paths(other_paths, tiers)))[1]
    # On SQLite a boolean column needs a converter: the ORM reads it every time there.
    assert [plan is not None for plan in prepared._plans.values()] == [connection.vendor == "postgresql"]
    # Another length of list is another statement, planned on its own.
    assert prepared([tree.community_a.path], [Tier.COMMUNITY]) == list(
        build_at_paths([tree.community_a.path], [Tier.COMMUNITY])
    )


def test_values_list_rows_are_tuples_as_the_orm_gives(tree, people):
    user = people[Role.COMMUNITY_STAFF]
    orm = list(
        Post.objects.filter(user_id=user.pk).values_list(
            "role", "area_id", "area__path", "department_id", "department__area__path"
        )
    )
    assert (
        _scope_posts(user.pk)
        == _scope_posts(user.pk)
        == orm
        == [(Role.COMMUNITY_STAFF, tree.community_a.pk, tree.community_a.path, None, None)]
    )


def test_the_selectors_on_it_answer_as_before(tree, people):
    dispatchers = posts_at_paths(paths=ancestor_paths(tree.grid_a.path), tiers=[Tier.COMMUNITY, Tier.STREET])
    assert {(p["user_id"], p["area__tier"]) for p in dispatchers} == {
        (people[Role.COMMUNITY_STAFF].pk, Tier.COMMUNITY),
        (people[Role.STREET_STAFF].pk, Tier.STREET),
    }
    worker = people[Role.GRID_WORKER]
    assert scope_for(worker).case_paths == (tree.grid_a.path,)
    # Both from their plans, not the ORM each time (on PostgreSQL; see above).
    assert all(plan is not None for plan in _scope_posts._plans.values())
    if connection.vendor == "postgresql":
        assert all(plan is not None for plan in _posts_at_paths._plans.values())


@pytest.mark.parametrize(
    "args",
    [
        ([], [Tier.COMMUNITY]),  # an empty IN: the ORM reads nothing at all
        ([None], [Tier.COMMUNITY]),  # None is not a value a plan can hold
        (("a",), (True,)),  # nor is a bool
    ],
)
def test_what_a_plan_cannot_hold_is_read_by_the_orm(tree, people, args):
    prepared = prepared_values(Post)(build_at_paths)
    assert prepared(*args) == list(build_at_paths(*args))


def test_a_value_the_orm_transforms_is_left_to_the_orm(tree):
    @prepared_values(Area)
    def below(path):
        return Area.objects.filter(path__startswith=path).values("code")

    for _ in range(2):
        rows, sql = read(below, tree.community_a.path)
        assert sorted(r["code"] for r in rows) == sorted(
            Area.objects.filter(path__startswith=tree.community_a.path).values_list("code", flat=True)
        )
        assert "LIKE" in sql[0]
    assert list(below._plans.values()) == [None]


def test_only_plain_values_querysets_are_planned(tree):
    @prepared_values(Area)
    def flat_codes(tier):
        return Area.objects.filter(tier=tier).values_list("code", flat=True)

    assert flat_codes(Tier.GRID) == list(Area.objects.filter(tier=Tier.GRID).values_list("code", flat=True))
    assert list(flat_codes._plans.values()) == [None]


def test_past_a_few_dozen_shapes_the_rest_are_not_kept(tree, monkeypatch):
    from gov_platform import prepared

    monkeypatch.setattr(prepared, "MAX_PLANS", 2)

    @prepared_values(Area)
    def codes(paths):
        return Area.objects.filter(path__in=paths).values_list("code")

    paths = [tree.district.path, tree.street_a.path, tree.community_a.path]
    for n in (1, 2, 3, 3):
        assert sorted(codes(paths[:n])) == sorted(Area.objects.filter(path__in=paths[:n]).values_list("code"))
    assert len(codes._plans) == 2
