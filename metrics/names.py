"""Departments and categories as the dashboards name them, kept per process (cases.memo): small tables that
are rarely edited and named by every dashboard built. An edit counts at once in the process that made it and
within a second in every other, as does an import of the organisation (metrics.signals); a row another
process added since is read from the database."""

from cases.memo import SharedMemo
from cases.models import Category
from grids.models import Department

_kept = SharedMemo("department-and-category-names", max_entries=4)


def departments(pks) -> dict[int, Department]:
    """The departments with these ids (shared by every reader: not to be changed)."""
    return _pick(_kept.get("departments", Department.objects.in_bulk), pks, Department.objects.in_bulk)


def _category_names(queryset) -> dict[int, tuple[str, str]]:
    return {c.pk: (c.name, c.parent.name if c.parent_id else "") for c in queryset.select_related("parent")}


def category_names(pks) -> dict[int, tuple[str, str]]:
    """Id -> (name, the name of its group or "") of these categories."""
    return _pick(
        _kept.get("categories", lambda: _category_names(Category.objects.all())),
        pks,
        lambda missing: _category_names(Category.objects.filter(pk__in=missing)),
    )


def _pick(known: dict, pks, read) -> dict:
    found = {pk: known[pk] for pk in pks if pk in known}
    missing = [pk for pk in pks if pk not in known]
    if missing:
        found.update(read(missing))
    return found


def changed(**kwargs):
    _kept.changed()


def forget():
    """Drop this process's copies (tests start each database afresh)."""
    _kept.forget()
