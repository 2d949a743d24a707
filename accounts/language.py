"""The language a page is written in: the back office follows the user's own choice, never the browser."""

from django.conf import settings
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.middleware.locale import LocaleMiddleware
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme

from . import services

LANGUAGE_CODES = {code for code, _name in settings.LANGUAGES}


def chosen_language(request) -> str:
    """The signed-in user's saved language; else a choice made on this browser; else Simplified Chinese.
    The browser's Accept-Language is not asked: an English browser in a district office still gets
    the Chinese back office the district works in."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and getattr(user, "language", "") in LANGUAGE_CODES:
        return user.language
    cookie = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
    return cookie if cookie in LANGUAGE_CODES else settings.LANGUAGE_CODE


class UserLanguageMiddleware(LocaleMiddleware):
    """In place of Django's LocaleMiddleware, after authentication. Every page people read — the back
    office and the residents' pages — speaks the chosen language (the user's saved one, else the
    language buttons' cookie), else Simplified Chinese, whatever the browser sends. Only the API
    follows Accept-Language: a mobile client sets it on purpose, from its own language setting."""

    def process_request(self, request):
        if request.path_info.startswith(CLIENT_CHOOSES_PREFIXES):
            super().process_request(request)
            return
        translation.activate(chosen_language(request))
        request.LANGUAGE_CODE = translation.get_language()


CLIENT_CHOOSES_PREFIXES = ("/api/", "/open311/")


def switch_language(request):
    """POST language=<code>: saved on the signed-in user (every later page and device) and in a cookie
    (the login page of this browser), then back to the page the switch was pressed on."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    language = request.POST.get("language", "")
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, require_https=request.is_secure()):
        next_url = reverse("admin:index")
    response = HttpResponseRedirect(next_url)
    if language in LANGUAGE_CODES:
        if request.user.is_authenticated:
            services.set_language(actor=request.user, language=language)
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            samesite="Lax",
            secure=request.is_secure(),
            httponly=True,
        )
    return response
