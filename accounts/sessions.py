"""Idle timeout of logged-in sessions (等保 2.0 level 3): ``SESSION_IDLE_TIMEOUT_MINUTES``."""

import time
from importlib import import_module

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.utils.translation import gettext as _

LAST_ACTIVITY_KEY = "last_activity"
# Writing the session on every request would cost a database write each; a
# minute's precision is plenty for a timeout counted in tens of minutes.
REFRESH_EVERY_SECONDS = 60


def now() -> float:
    return time.time()


class IdleSessionTimeoutMiddleware:
    """Log out a session whose last request is older than the timeout, then carry on as anonymous
    (the admin then asks for the login again). Token-authenticated API calls have no session and pass."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            self._check(request)
        return self.get_response(request)

    def _check(self, request):
        session = request.session
        current = now()
        last = session.get(LAST_ACTIVITY_KEY)
        if last is not None and current - last > settings.SESSION_IDLE_TIMEOUT_MINUTES * 60:
            logout(request)
            messages.info(request, _("You were logged out after a period without activity. Please log in again."))
            return
        if last is None or current - last >= REFRESH_EVERY_SECONDS:
            session[LAST_ACTIVITY_KEY] = current


def purge_expired() -> None:
    """Django's ``clearsessions`` on beat: rows of sessions past their expiry (officials' and the short ones
    residents get while /report/ keeps their photos, cases/kept_photos.py) would otherwise stay forever."""
    engine = import_module(settings.SESSION_ENGINE)
    engine.SessionStore.clear_expired()
