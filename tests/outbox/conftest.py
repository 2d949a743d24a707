"""The outbox's tests queue their messages through real case steps: the case fixtures."""

from tests.cases.conftest import categories, make_case, photo, supervisors  # noqa: F401
