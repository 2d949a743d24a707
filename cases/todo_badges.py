"""The header's to-do counts (cases.selectors.todo_counts), kept a short while per official.

Every admin page shows them, and an official opens several pages a minute: reading them once per
``TODO_CACHE_SECONDS`` (30) instead of on every page takes a statement off almost every page. Why this
never shows an official a wrong badge after their own step:

- Everything an official does goes through a request that is not a GET (a step's form, a batch action,
  a new report, a clock request, the API). At the end of such a request, after its transaction has
  committed, the official's version of their counts changes, so the counts kept under the old one never
  match again; the page the official sees next counts afresh. A page rendered by that request itself (a
  form shown again, a batch's result) is counted afresh and not kept. Counts are only ever kept under a
  version: when the official has none (yet, or the cache let it go), the page gives them one.
- A page that was counting in another tab while the step committed keeps its counts under the version
  it started with; the next page sees the new version and counts again.
- The kept counts carry the user's scope: new posts count afresh.

What others do (a resident's new report, a colleague's step, a deadline passing) shows within
``TODO_CACHE_SECONDS``, as the dashboard's figures show within FIGURES_CACHE_SECONDS. Without the cache
(it is down, or the setting is 0) the counts are read on every page.
"""

import hashlib
import logging
import uuid

from django.conf import settings
from django.core.cache import cache

from . import selectors

logger = logging.getLogger(__name__)

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# The version outlives any kept counts, so counts kept under an old version never match again.
VERSION_SECONDS = 24 * 3600


def _keys(user) -> tuple[str, str]:
    return f"todo-version:{user.pk}", f"todo-counts:{user.pk}"


def _scope_digest(user) -> str:
    return hashlib.blake2b(repr(user.scope).encode(), digest_size=8).hexdigest()


def counts_for_page(request) -> list[dict]:
    """The request user's to-do counts for the page being rendered."""
    user = request.user
    seconds = settings.TODO_CACHE_SECONDS
    if not seconds or request.method not in SAFE_METHODS:
        return selectors.todo_counts(user)
    version_key, counts_key = _keys(user)
    scope = _scope_digest(user)
    try:
        found = cache.get_many([version_key, counts_key])
    except Exception as exc:  # the cache is down: count, as without it
        logger.warning("To-do counts not read from the cache (%s).", exc)
        return selectors.todo_counts(user)
    version, kept = found.get(version_key), found.get(counts_key)
    if kept is not None and version is not None and kept[0] == version and kept[1] == scope:
        return selectors.todo_rows(kept[2])
    rows = selectors.todo_counts(user)
    try:
        if version is None:
            # Never kept under no version: were a step's version let go, counts kept before it would match again.
            version = uuid.uuid4().hex
            cache.add(version_key, version, VERSION_SECONDS)
        cache.set(counts_key, (version, scope, [row["count"] for row in rows]), seconds)
    except Exception as exc:
        logger.warning("To-do counts not kept (%s).", exc)
    return rows


def own_step_taken(user) -> None:
    """The user may have changed their own to-do: the next page counts afresh. A new version is enough (one
    round trip to the cache, on every write of every official): counts kept under another never match."""
    try:
        cache.set(_keys(user)[0], uuid.uuid4().hex, VERSION_SECONDS)
    except Exception as exc:
        logger.warning("To-do counts of %s not dropped (%s); they show within the cache's seconds.", user, exc)


class TodoBadgesMiddleware:
    """After every request that may change something (not a GET), drops the acting user's kept counts.
    Runs after the view: its transaction has committed, and the API's token user is known by then."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.method not in SAFE_METHODS and settings.TODO_CACHE_SECONDS:
            user = getattr(request, "user", None)
            if user is not None and user.is_authenticated:
                own_step_taken(user)
        return response
