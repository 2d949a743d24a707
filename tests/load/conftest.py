# The case fixtures are shared with the case tests.
from tests.cases.conftest import categories, make_case, photo, supervisors  # noqa: F401
