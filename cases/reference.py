"""The category and the grid a report names, kept per process (cases.memo) until any category or area changes.

Every report reads both by what its form or body names (an id, a grid's code): two queries whose building was
a tenth of a report's time, for rows edited a few times a year. A row is kept under the name of the lookup and
the value asked for, as the lookup found it, and each caller gets its own copy. Categories and areas saved or
deleted through the ORM, and the organisation's imports (which write areas in bulk), tell every process to read
them again (cases.signals); a lookup that finds nothing is not kept, so a row added any way is found at once.
"""

import copy

from .memo import SharedMemo

# A district has a few thousand grids; a kept row is a small model instance.
_rows = SharedMemo("report-references", max_entries=4096)


def kept_row(lookup: str, value, load):
    """The row ``load()`` returns (it raises when there is none), kept under ``(lookup, value)``: ``lookup``
    names the conditions ``load`` applies, ``value`` is what the request asked for, as it sent it."""
    try:
        hash(value)
    except TypeError:  # a list or an object in a JSON body: only the database can say what it matches
        return load()
    # With its type: 1 and True are one key to a dict, but not one grid code to the database.
    return copy.copy(_rows.get((lookup, type(value), value), load))


def references_changed():
    """A category or an area was added, changed or removed: every process reads them again."""
    _rows.changed()


def forget_references():
    """Drop this process's copies (tests start each database afresh)."""
    _rows.forget()
