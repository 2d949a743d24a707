"""The read replica: dashboards, KPI figures and exports read from it when it is set; writes never do."""

from unittest import mock

import pytest
from django.test.utils import override_settings

from gov_platform.db_router import REPLICA, ReplicaRouter, replica_reads

router = ReplicaRouter()


def with_replica(settings):
    return override_settings(DATABASES={**settings.DATABASES, REPLICA: {**settings.DATABASES["default"]}})


def test_without_a_replica_everything_stays_on_the_primary(settings):
    with override_settings(DATABASES={"default": settings.DATABASES["default"]}), replica_reads():
        assert router.db_for_read(None) == "default"


def test_reads_go_to_the_replica_only_inside_replica_reads_and_writes_never(settings):
    with with_replica(settings):
        assert router.db_for_read(None) == "default"
        with replica_reads():
            assert router.db_for_read(None) == REPLICA
            assert router.db_for_write(None) == "default"
        assert router.db_for_read(None) == "default"
        assert router.allow_migrate("default", "cases") and not router.allow_migrate(REPLICA, "cases")
        assert router.allow_relation(object(), object())


needs_replica = pytest.mark.skipif(
    REPLICA not in __import__("django.conf").conf.settings.DATABASES,
    reason="set REPLICA_DATABASE_URL (the same server will do) to run the replica tests",
)


@needs_replica
@pytest.mark.django_db(databases=["default", REPLICA])
def test_the_dashboard_reads_from_the_replica_and_a_write_beside_it_goes_to_the_primary(people, tree):
    """With REPLICA_DATABASE_URL set (in tests the replica mirrors the test database, one connection, so
    the routing is what is checked)."""
    from cases.models import Category
    from metrics import selectors
    from metrics.kpis import Period

    routed, real = [], ReplicaRouter.db_for_read

    def spy(self, model, **hints):
        alias = real(self, model, **hints)
        routed.append((model._meta.label, alias))
        return alias

    with mock.patch.object(ReplicaRouter, "db_for_read", spy):
        board = selectors.dashboard(user=people["superuser"], period=Period.month_to_date(), area=tree.district)
        with replica_reads():
            made = Category.objects.create(code="RR1", name="副本测试")
        after = Category.objects.get(pk=made.pk)
    assert board is not None
    figures = [alias for label, alias in routed if label in ("metrics.DailyRollup", "metrics.MonthlyRollup")]
    assert figures and set(figures) == {REPLICA}
    assert made._state.db == "default"  # the write went to the primary, inside replica_reads too
    assert after._state.db == "default"  # outside it, reads are the primary's
