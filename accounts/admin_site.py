"""The admin site's side of account security: the code step after the password,
enrolment, and password changes through the one service.

``TwoFactorAdminSiteMixin`` goes on the platform's AdminSite. A session that
logged in with the password but still owes a code (accounts.twofactor) has no
admin permission: every admin URL sends it to the code step, or to enrolment
when its role requires a device it does not have yet.
"""

from functools import wraps

from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect

from gov_platform import admin_nav
from gov_platform.admin_lookups import LookupAllowListSiteMixin

from . import twofactor, views
from .forms import OwnPasswordChangeForm


class TwoFactorAdminSiteMixin:
    def has_permission(self, request):
        return super().has_permission(request) and not twofactor.awaiting_second_factor(request.user)

    def second_factor_url(self, request, next_url: str) -> str:
        """The code step, or enrolment for a user who must have a device and has none."""
        name = "otp_verify" if twofactor.has_device(request.user) else "otp_enrol"
        url = reverse(f"admin:{name}", current_app=self.name)
        return f"{url}?{urlencode({REDIRECT_FIELD_NAME: next_url})}"

    def admin_view(self, view, cacheable=False):
        checked = super().admin_view(view, cacheable)
        # Logging out must stay possible half-way through the login, where Django's
        # check (no permission yet) would send the logout back to the index.
        logout_view = csrf_protect(never_cache(view))

        @wraps(checked)
        def inner(request, *args, **kwargs):
            if self._owes_code(request):
                if request.path == reverse("admin:logout", current_app=self.name):
                    return logout_view(request, *args, **kwargs)
                return HttpResponseRedirect(self.second_factor_url(request, request.get_full_path()))
            return checked(request, *args, **kwargs)

        return inner

    def _owes_code(self, request) -> bool:
        user = request.user
        return user.is_authenticated and user.is_staff and twofactor.awaiting_second_factor(user)

    def login(self, request, extra_context=None):
        next_url = request.POST.get(REDIRECT_FIELD_NAME, request.GET.get(REDIRECT_FIELD_NAME, ""))
        if request.method == "GET" and self._owes_code(request):
            return HttpResponseRedirect(self.second_factor_url(request, next_url))
        response = super().login(request, extra_context)
        if request.method == "POST" and response.status_code == 302 and self._owes_code(request):
            # The password was right; the code comes next, then where the user was going.
            return HttpResponseRedirect(self.second_factor_url(request, next_url or response.url))
        return response

    def password_change(self, request, extra_context=None):
        from django.contrib.auth.views import PasswordChangeView

        request.current_app = self.name
        return PasswordChangeView.as_view(
            form_class=OwnPasswordChangeForm,
            success_url=reverse("admin:password_change_done", current_app=self.name),
            extra_context={**self.each_context(request), **(extra_context or {})},
        )(request)

    def login_step_view(self, view):
        """For the pages between the password and the code: a password-authenticated staff session."""

        @never_cache
        @csrf_protect
        @wraps(view)
        def inner(request, *args, **kwargs):
            user = request.user
            if not (user.is_authenticated and user.is_active and user.is_staff):
                return redirect_to_login(request.get_full_path(), reverse("admin:login", current_app=self.name))
            return view(request, self, *args, **kwargs)

        return inner

    def get_urls(self):
        def manage(request):
            return views.manage(request, self)

        return [
            path("two-factor/verify/", self.login_step_view(views.verify), name="otp_verify"),
            path("two-factor/enrol/", self.login_step_view(views.enrol), name="otp_enrol"),
            path("two-factor/", self.admin_view(manage), name="two_factor"),
            *super().get_urls(),
        ]


class PlatformAdminSite(TwoFactorAdminSiteMixin, LookupAllowListSiteMixin, admin.AdminSite):
    """The default admin site (gov_platform.admin_apps.PlatformAdminConfig): two-factor login and the
    lookup allow-list on every ModelAdmin."""

    def each_context(self, request):
        # The sidebar's app list, built only when the sidebar is rendered rather than kept (gov_platform/admin_nav.py).
        request._platform_lazy_apps = True
        try:
            return super().each_context(request)
        finally:
            del request._platform_lazy_apps

    def get_app_list(self, request, app_label=None):
        if app_label is None and getattr(request, "_platform_lazy_apps", False):
            return admin_nav.lazy_app_list(self, request)
        # Asked twice by the index (its list and the navigation sidebar) and once by every other page: each
        # asks every registered admin for the user's permissions. Kept for the rest of the request, per user
        # (a login or logout in the request changes it).
        memo = request.__dict__.setdefault("_platform_app_lists", {})
        key = (getattr(request.user, "pk", None), app_label)
        if key not in memo:
            memo[key] = super().get_app_list(request, app_label)
        return memo[key]
