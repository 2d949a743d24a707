"""Two-factor login pages of the admin: the code step, enrolment, and the user's own settings.

Mounted by ``accounts.admin_site.TwoFactorAdminSiteMixin``; each takes the admin site for its context.
"""

import segno
from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from . import services, twofactor
from .forms import CodeForm


def _next_url(request, site) -> str:
    url = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME) or ""
    if url and url_has_allowed_host_and_scheme(url, {request.get_host()}, require_https=request.is_secure()):
        return url
    return reverse("admin:index", current_app=site.name)


def _mark_verified(request, device) -> None:
    # A new session key for the more trusted session, so a key known before the code is worth nothing.
    request.session.cycle_key()
    otp_login(request, device)


def _render(request, site, template, title, **context):
    request.current_app = site.name
    return TemplateResponse(
        request,
        template,
        {
            **site.each_context(request),
            "title": title,
            "next": _next_url(request, site),
            "next_field": REDIRECT_FIELD_NAME,
            **context,
        },
    )


def verify(request, site):
    """The code step after the password: the authenticator's code or a recovery code."""
    user = request.user
    if not twofactor.awaiting_second_factor(user):
        return HttpResponseRedirect(_next_url(request, site))
    if not twofactor.has_device(user):
        return HttpResponseRedirect(site.second_factor_url(request, _next_url(request, site)))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = services.verify_second_factor(user=user, code=form.cleaned_data["code"])
        except services.SecondFactorRefused as refused:
            form.add_error("code", refused.message)
        else:
            _mark_verified(request, device)
            return HttpResponseRedirect(_next_url(request, site))
    return _render(request, site, "accounts/otp_verify.html", _("Two-factor login"), form=form)


def enrol(request, site):
    """Set up an authenticator app: QR code and secret, confirmed with a first code.

    Open to a user without a device (their first login when their role requires
    one), or to a verified session replacing its device; never to a session
    that still owes the code of an existing device.
    """
    user = request.user
    if twofactor.has_device(user) and not twofactor.is_verified(user):
        return HttpResponseRedirect(site.second_factor_url(request, _next_url(request, site)))
    form = CodeForm(request.POST or None)
    if request.method == "POST":
        device = twofactor.totp_device(user, confirmed=False)
        if device is None:  # confirmed meanwhile, e.g. the page was sent twice
            return HttpResponseRedirect(reverse("admin:two_factor", current_app=site.name))
        if form.is_valid():
            codes = services.confirm_totp_device(user=user, device=device, code=form.cleaned_data["code"])
            if codes is not None:
                _mark_verified(request, TOTPDevice.objects.get(pk=device.pk))
                # Shown on this one response and stored nowhere in clear: a reload shows them no more.
                return _render(request, site, "accounts/otp_recovery_codes.html", _("Recovery codes"), codes=codes)
            form.add_error("code", _("That code is not valid. Check the time on your phone and try again."))
    else:
        device = services.start_totp_enrolment(user=user)
    return _render(
        request,
        site,
        "accounts/otp_enrol.html",
        _("Set up two-factor login"),
        form=form,
        required=twofactor.otp_required(user),
        qr_svg=segno.make(device.config_url, error="m").svg_inline(scale=4, title=_("QR code")),
        secret=twofactor.secret_of(device),
    )


def manage(request, site):
    """The user's own two-factor settings (linked from the user tools)."""
    user = request.user
    if request.method == "POST" and "remove" in request.POST:
        try:
            services.remove_second_factor(actor=user, user=user)
        except PermissionDenied as denied:
            messages.error(request, str(denied))
        else:
            messages.success(request, _("Two-factor login is off."))
        return HttpResponseRedirect(reverse("admin:two_factor", current_app=site.name))
    return _render(
        request,
        site,
        "accounts/otp_manage.html",
        _("Two-factor login"),
        enabled=twofactor.has_device(user),
        required=twofactor.otp_required(user),
        recovery_codes_left=twofactor.remaining_recovery_codes(user),
    )
