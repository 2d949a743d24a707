"""Admin list paging that stays fast on tables of millions of rows."""

from django.core.paginator import Paginator
from django.utils.functional import cached_property


class CappedCountPaginator(Paginator):
    """Counts at most ``CAP`` + 1 rows, so a list never runs COUNT(*) over a whole large table."""

    CAP = 10_000

    @cached_property
    def count(self):
        return self.object_list[: self.CAP + 1].count()
