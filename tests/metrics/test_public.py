"""The public disclosure page: last month's and this month's figures by street and community, ranked."""

from datetime import date
from decimal import Decimal

from metrics import selectors, services

from .conftest import at


def test_figures_by_hand(dataset, tree):
    services.snapshot_safety_index(actor=None, month=date(2026, 3, 1), now=at(4, 1, 1))
    disclosure = selectors.public_disclosure(today=date(2026, 4, 10))
    assert disclosure.last_month_recorded is True
    streets = [
        (r.rank, r.code, r.last_month["satisfaction"], r.last_month["on_time"], r.last_month["safety"])
        for r in disclosure.streets
    ]
    assert streets == [
        (1, tree.street_b.code, 100.0, 100.0, Decimal("98.50")),
        (2, tree.street_a.code, 66.67, 75.0, Decimal("96.20")),
    ]
    community_a = next(r for r in disclosure.communities if r.code == tree.community_a.code)
    # April so far: X2 (reported, in grid B) only; nothing handled or rated in street A.
    assert community_a.this_month == {
        "satisfaction": None,
        "on_time": None,
        "safety": Decimal("100.00"),
        "colour": "green",
        "rated": 0,
    }
    assert community_a.last_month["colour"] == "green"
    by_satisfaction = selectors.public_disclosure(today=date(2026, 4, 10), ranked_by="satisfaction")
    assert [r.code for r in by_satisfaction.streets] == [tree.street_b.code, tree.street_a.code]


def test_last_month_is_provisional_until_recorded(dataset, tree):
    disclosure = selectors.public_disclosure(today=date(2026, 4, 10))
    assert disclosure.last_month_recorded is False
    street_a = next(r for r in disclosure.streets if r.code == tree.street_a.code)
    assert street_a.last_month["safety"] == Decimal("96.20")  # computed now, under the current rules


def test_page_renders_and_is_cached(dataset, client, tree, django_assert_max_num_queries):
    first = client.get("/public/?by=on_time")
    assert first.status_code == 200
    assert "on-time" in first.content.decode().lower() or "按期" in first.content.decode()
    with django_assert_max_num_queries(0):
        again = client.get("/public/?by=on_time")
    assert again.content == first.content
