"""Full-time community workers per 10,000 residents against the standard, and grids without a grid worker."""

from accounts.models import Post
from accounts.roles import Role
from metrics import selectors


def test_staffing_by_hand(tree, people, make_user):
    # Community A (5,000 residents): its community staff and grid A's grid worker (people fixture),
    # plus a second community worker who is part-time and does not count.
    part_time = make_user(Role.COMMUNITY_STAFF, area=tree.community_a, username="part_time")
    Post.objects.filter(user=part_time).update(is_full_time=False)
    # A worker holding two posts in one community counts once.
    Post.objects.create(user=people["community_staff"], role=Role.GRID_WORKER, area=tree.grid_a)
    report = selectors.staffing(user=people["superuser"], area=tree.district)
    assert report.standard == 18
    rows = {row.area.code: row for row in report.communities}
    a, b = rows[tree.community_a.code], rows[tree.community_b.code]
    assert (a.population, a.workers, a.per_10k, a.compliant, a.shortfall) == (5000, 2, 4.0, False, 7)  # 9 needed
    assert (b.population, b.workers, b.per_10k, b.compliant, b.shortfall) == (4000, 0, 0.0, False, 8)  # 7.2 → 8
    assert [(r.area, r.workers, r.population) for r in report.rows] == [
        (tree.street_a, 2, 5000),
        (tree.street_b, 0, 4000),
    ]
    assert (report.total.workers, report.total.population, report.total.per_10k) == (2, 9000, 2.22)
    assert report.grids == 2
    assert report.grids_without_worker == [tree.grid_b]
    assert report.gaps == [a, b]


def test_a_community_meets_the_standard(tree, make_user):
    for i in range(9):  # 9 × 10,000 / 5,000 = 18
        make_user(Role.GRID_WORKER, area=tree.grid_a, username=f"w{i}")
    report = selectors.staffing(user=make_user(superuser=True, username="boss"), area=tree.community_a)
    assert report.total.per_10k == 18.0 and report.total.compliant is True and report.total.shortfall == 0
    assert report.grids_without_worker == []


def test_inactive_workers_do_not_count(tree, people):
    people["grid_worker"].is_active = False
    people["grid_worker"].save()
    report = selectors.staffing(user=people["superuser"], area=tree.street_a)
    assert report.total.workers == 1
    assert report.grids_without_worker == [tree.grid_a]
