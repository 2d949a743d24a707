"""The signal a case's figures may have changed, sent by the services in the writing transaction.

Cases know nothing of who keeps figures (DESIGN §2: nothing imports metrics); metrics
receives this signal and marks the case's roll-up bucket for recomputation in the same
transaction, so a committed change is never missing from the next refresh.
"""

from django.dispatch import Signal

# Sent with ``case`` (as saved) and ``previous_path``: the area path it had before, when it moved.
figures_changed = Signal()


def case_changed(case, *, previous_path: str | None = None) -> None:
    """Tell receivers that ``case``'s figures may have changed (created, a step, moved between grids)."""
    figures_changed.send(sender=type(case), case=case, previous_path=previous_path)
