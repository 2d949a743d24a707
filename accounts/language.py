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
    """In place of Django's LocaleMiddleware, after authentication. Back-office pages (the admin) speak
    the user's chosen language; the API and the residents' pages keep following the client's
    Accept-Language (and the residents' language buttons), which their clients send on purpose."""

    def process_request(self, request):
        if request.path_info.startswith(BACK_OFFICE_PREFIXES):
            translation.activate(chosen_language(request))
            request.LANGUAGE_CODE = translation.get_language()
            return
        super().process_request(request)


BACK_OFFICE_PREFIXES = ("/admin/", "/i18n/")


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
