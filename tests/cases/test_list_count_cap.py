"""The case list stops counting at CappedCountPaginator.CAP and says "more than N" instead of a wrong number."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.roles import Role
from gov_platform.paginators import CappedCountPaginator


def test_past_the_cap_the_list_says_more_than_and_counts_no_further(make_case, people, client, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "CAP", 2)
    for n in range(4):
        make_case(title=f"楼道堆物{n}")
    client.force_login(people[Role.COMMUNITY_STAFF])
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/admin/cases/case/?view=all&q=楼道").content.decode()
    paginator = page[page.index('class="paginator"') :]
    assert "超过 2 " in paginator[:400] and "4 " not in paginator[:400]
    assert "超过 2 条结果" in page  # the search line too
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(*)" in q["sql"] and "LIMIT 3" in q["sql"]]
    assert counts, "the list's count is capped at CAP + 1 rows"


def test_under_the_cap_the_exact_number_shows(make_case, people, client):
    make_case(title="楼道堆物")
    client.force_login(people[Role.COMMUNITY_STAFF])
    page = client.get("/admin/cases/case/?view=all").content.decode()
    assert "超过" not in page


@pytest.mark.django_db(transaction=True)
def test_the_capped_count_is_read_by_one_process(postgres, role_groups, make_case, people, client):
    """PostgreSQL would start parallel workers for a count it cannot know stops at CAP + 1 rows."""
    make_case()
    client.force_login(people[Role.COMMUNITY_STAFF])
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/admin/cases/case/").status_code == 200
    sql = [q["sql"] for q in queries.captured_queries]
    first = next(i for i, s in enumerate(sql) if "max_parallel_workers_per_gather" in s)
    assert "COUNT(*)" in sql[first + 1] and f"LIMIT {CappedCountPaginator.CAP + 1}" in sql[first + 1]
    with connection.cursor() as cursor:  # for that statement only
        cursor.execute("SHOW max_parallel_workers_per_gather")
        assert cursor.fetchone()[0] != "0"
