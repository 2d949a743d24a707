"""The case table's and its history's indexes: every one is written on each new case and on each step, so none is
kept that another already serves or that nothing reads, and the columns most cases leave empty are indexed only
where set."""

import pytest
from django.db import connection
from django_fsm_log.models import StateLog

from cases.models import Case

pytestmark = pytest.mark.django_db

TABLE = Case._meta.db_table


def _indexes(table=TABLE):
    """Name -> (columns, partial) of every index on the table, as the database holds them."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
        if connection.vendor == "postgresql":
            cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [table])
        else:
            cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s", [table])
        sql = dict(cursor.fetchall())
    return {
        name: (tuple(c["columns"]), " WHERE " in (sql.get(name) or "").upper())
        for name, c in constraints.items()
        if c["index"] and c["columns"] and all(c["columns"])
    }


def test_no_column_is_indexed_alone_where_a_full_index_leads_with_it():
    indexes = _indexes()
    leading = {columns[0]: name for name, (columns, partial) in indexes.items() if len(columns) > 1 and not partial}
    alone = {
        name: columns[0]
        for name, (columns, partial) in indexes.items()
        if len(columns) == 1 and not partial and columns[0] in leading
    }
    assert alone == {}, f"already served by {[leading[c] for c in alone.values()]}"
    # The composite indexes that serve them are there.
    for column in ("status", "category_id", "handling_area_id", "handling_department_id"):
        assert column in leading


def test_columns_most_cases_leave_empty_are_indexed_only_where_set():
    indexes = _indexes()
    for column in ("duplicate_of_id", "inspection_id", "visit_id", "external_system_id"):
        found = [partial for columns, partial in indexes.values() if columns[0] == column]
        assert found, f"{column} has no index (deleting what it points to would read the whole table)"
        assert all(found), f"{column} is indexed where empty too"


def test_the_history_is_indexed_by_case_not_by_state():
    leading = {columns[0] for columns, _partial in _indexes(StateLog._meta.db_table).values()}
    # The case page, the public timeline and Open311 read a case's history; nothing reads it by state.
    assert "object_id" in leading
    assert not leading & {"state", "source_state"}
