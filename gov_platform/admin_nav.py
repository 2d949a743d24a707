"""The admin's navigation sidebar, rendered once per official and page rather than on every view.

Every admin page but the index shows the sidebar: the apps and models the user may open, built by asking every
registered ModelAdmin for the user's permissions (``AdminSite.get_app_list``) and rendered through two templates
with a row per model. On the case list that was ~10-15 % of the worker's time per page, and it is the same on
every view of that page by that official. It is kept ``NAV_CACHE_SECONDS`` (60) in the worker's memory under:

- the user, the permissions the request read for them, and their scope (``repr(user.scope)``: their posts): a
  new permission or post is a new key, and the sidebar shows it on the next page;
- the language (names and order of the apps) and the page's path (the current model is highlighted).

What ModelAdmins decide from anything else shows within ``NAV_CACHE_SECONDS``; the pages themselves check every
permission on every request as before: the sidebar only offers links. With the setting 0 it is rendered on
every page, as Django does.
"""

import hashlib
import threading
import time
from collections import OrderedDict

from django.conf import settings
from django.template.loader import get_template
from django.utils import translation
from django.utils.functional import SimpleLazyObject
from django.utils.safestring import mark_safe

# Django's own sidebar, which admin/base_site.html's nav-sidebar block renders through ``render_sidebar``.
SIDEBAR_TEMPLATE = "admin/nav_sidebar.html"
MAX_KEPT = 512  # officials x pages per worker; the oldest go first

_kept: OrderedDict = OrderedDict()
_lock = threading.Lock()


def _key(request) -> tuple | None:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    # An active superuser has every permission (has_perm does not read them): not read here either.
    permissions = () if user.is_superuser and user.is_active else sorted(user.get_all_permissions())
    digest = hashlib.blake2b(repr((permissions, user.scope)).encode(), digest_size=12).hexdigest()
    # date_joined: a user removed and another made with the same key (SQLite reuses keys) is someone else.
    return (
        user.pk,
        user.date_joined,
        user.is_superuser,
        user.is_active,
        user.is_staff,
        digest,
        translation.get_language(),
        request.path,
    )


def render_sidebar(context) -> str:
    """The sidebar's HTML for the page being rendered (``context`` is the page's template context)."""
    seconds = settings.NAV_CACHE_SECONDS
    request = context.get("request")
    key = _key(request) if seconds and request is not None and request.method == "GET" else None
    now = time.monotonic()
    if key is not None:
        with _lock:
            found = _kept.get(key)
            if found is not None and found[0] > now:
                _kept.move_to_end(key)
                return found[1]
    html = mark_safe(get_template(SIDEBAR_TEMPLATE).template.render(context))  # noqa: S308 - rendered HTML
    if key is not None:
        with _lock:
            _kept[key] = (now + seconds, html)
            _kept.move_to_end(key)
            while len(_kept) > MAX_KEPT:
                _kept.popitem(last=False)
    return html


def clear() -> None:
    with _lock:
        _kept.clear()


def lazy_app_list(site, request):
    """``available_apps`` for ``each_context``: built only when a template reads it (the sidebar, when not kept)."""
    return SimpleLazyObject(lambda: list(site.get_app_list(request)))
