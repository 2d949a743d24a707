"""Reads on the hot path whose SQL the ORM builds once per process instead of once per call.

Building a statement from a queryset — cloning it per filter, resolving the joins, the select list, compiling —
cost a report more of its Python time than running it: the dispatchers' query was ~0.45 ms to build and
~0.1 ms to run. ``prepared_values`` wraps a function that builds a ``values()`` or ``values_list()`` queryset
from its arguments. For each shape of arguments (their types, how many values a list holds) it builds the
queryset once with stand-in values, compiles it, and records where each stand-in landed among the statement's
parameters; a call then runs that SQL with its own values in those places and shapes the rows as the queryset
would have. It is still the ORM's SQL: the filters stay written once, in the function.

Anything it cannot account for is read through the ORM as before, every time: an argument that is not a plain
string or int (None, a bool, a model; a choice
counts as its value), a stand-in the ORM transformed (a LIKE pattern) or dropped, a statement
the ORM would not run (an empty IN), a column needing a converter (e.g. booleans on SQLite), or another kind
of queryset than plain values.
"""

from django.apps import apps
from django.core.exceptions import EmptyResultSet
from django.db import connections, router
from django.db.models.query import ValuesIterable, ValuesListIterable
from django.utils.functional import cached_property

# Stand-ins: an int no column here holds (inside the 32-bit range, so the ORM's overflow checks leave it be),
# and a string no value holds.
_INT_STAND_IN = -2_000_000_000
_STR_STAND_IN = "\x00prepared-{}\x00"
MAX_PLANS = 64


class _Plan:
    __slots__ = ("sql", "slots", "constants", "names")

    def __init__(self, sql, slots, constants, names):
        self.sql, self.slots, self.constants, self.names = sql, slots, constants, names


def _shape(args):
    """The arguments' shape (flattened values and the key of their shape), or None if they have none."""
    flat, key = [], []
    for arg in args:
        values = list(arg) if isinstance(arg, (list, tuple, set, frozenset)) else None
        kinds = []
        for value in [arg] if values is None else values:
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                return None, None
            # A choice (TextChoices, IntegerChoices) is sent as the plain value it is.
            value = str.__str__(value) if isinstance(value, str) else int(value)
            flat.append(value)
            kinds.append(type(value))
        key.append((values is None, tuple(kinds)))
    return flat, tuple(key)


def _stand_ins(args):
    """The arguments rebuilt with a distinct stand-in for each value, and the stand-ins in order."""
    made = []

    def stand_in(value):
        n = len(made)
        made.append(_STR_STAND_IN.format(n) if isinstance(value, str) else _INT_STAND_IN - n)
        return made[-1]

    rebuilt = []
    for arg in args:
        if isinstance(arg, (list, tuple, set, frozenset)):
            rebuilt.append([stand_in(v) for v in arg])
        else:
            rebuilt.append(stand_in(arg))
    return rebuilt, made


def prepared_values(model):
    """Decorate ``build(*args) -> model's queryset.values(...)`` (or ``values_list(...)``, not flat nor named):
    a call returns the list of rows that queryset would give. ``model``: the model, or its "app_label.Model"
    where the module cannot import it yet."""

    def decorate(build):
        return _PreparedValues(model, build)

    return decorate


class _PreparedValues:
    def __init__(self, model, build):
        self._model, self.build = model, build
        self.__doc__ = build.__doc__
        self._plans = {}  # (alias, shape) -> _Plan, or None where the ORM reads every time

    @cached_property
    def model(self):
        return apps.get_model(self._model) if isinstance(self._model, str) else self._model

    def __call__(self, *args):
        flat, shape = _shape(args)
        if shape is None:
            return list(self.build(*args))
        alias = router.db_for_read(self.model)
        key = (alias, shape)
        try:
            plan = self._plans[key]
        except KeyError:
            plan = self._prepare(args, alias)
            # A list of any length is a statement of its own: past a few dozen shapes, the ORM reads the rest.
            if len(self._plans) < MAX_PLANS:
                self._plans[key] = plan
        if plan is None:
            return list(self.build(*args))
        params = [
            constant if slot is None else flat[slot] for slot, constant in zip(plan.slots, plan.constants, strict=True)
        ]
        with connections[alias].cursor() as cursor:
            cursor.execute(plan.sql, params)
            rows = cursor.fetchall()
        if plan.names is None:
            return rows
        names = plan.names
        return [dict(zip(names, row, strict=True)) for row in rows]

    def _prepare(self, args, alias):
        rebuilt, made = _stand_ins(args)
        queryset = self.build(*rebuilt).using(alias)
        query = queryset.query
        if queryset.model is not self.model or query.extra_select or query.annotation_select:
            return None
        if queryset._iterable_class not in (ValuesIterable, ValuesListIterable):
            return None
        compiler = query.get_compiler(using=alias)
        try:
            sql, params = compiler.as_sql()
        except EmptyResultSet:
            return None
        if compiler.get_converters([column[0] for column in compiler.select[: compiler.col_count]]):
            return None
        where = {value: n for n, value in enumerate(made)}
        slots, constants = [], []
        for param in params:
            slot = where.get(param) if type(param) in (int, str) else None
            if slot is None and isinstance(param, str) and "\x00prepared-" in param:
                return None  # a stand-in the ORM changed (e.g. into a LIKE pattern)
            slots.append(slot)
            constants.append(param if slot is None else None)
        if set(slots) - {None} != set(range(len(made))):
            return None  # a value the ORM dropped or merged: only it knows the statement for it
        names = list(query.values_select) if queryset._iterable_class is ValuesIterable else None
        return _Plan(sql, slots, constants, names)
