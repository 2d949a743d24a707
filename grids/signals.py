"""Signals of the organisation.

The security audit log lives in accounts, which depends on grids, so grids
announces what the log must hold instead of writing it.
"""

import time

from django.core.cache import cache
from django.dispatch import Signal

# Sent inside the import's transaction when it is written, and by the admin when a
# file is refused. Arguments: actor (None for the system), accepted (bool), and
# for an accepted import created/updated (per kind) and unchanged; for a refused
# one, errors (the number of bad rows or 1 for an unreadable file) and reason.
organisation_imported = Signal()

# The boundaries' version, shared by every process through the cache: each process's
# point → grid index (grids.locator) rebuilds itself when it differs from the one it was built at.
BOUNDARY_VERSION_KEY = "grids:boundary-version"


def boundaries_changed():
    """Tell every process's locator that a boundary changed (call after the change is committed)."""
    cache.set(BOUNDARY_VERSION_KEY, time.time_ns(), timeout=None)
