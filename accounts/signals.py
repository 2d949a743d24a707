"""Writes the security audit log for events other apps announce: logins, failures,
lockouts, logouts (django.contrib.auth, django-axes) and organisation imports (grids);
and revokes the API token of a deactivated account."""

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_save
from django.dispatch import receiver

from grids.signals import organisation_imported

from .audit import Kind, record
from .models import User
from .services import revoke_token


def _http_request(request):
    # The API's token view hands on DRF's Request; reading its ``user`` would run the API's
    # authenticators again, so the log reads the Django request underneath.
    return getattr(request, "_request", request)


def _channel(request) -> str:
    request = _http_request(request)
    return "api" if request is not None and request.path.startswith("/api/") else "web"


@receiver(user_logged_in, dispatch_uid="audit_user_logged_in")
def _logged_in(sender, request, user, **kwargs):
    record(Kind.LOGIN, actor=user, request=_http_request(request), via=_channel(request))


@receiver(user_login_failed, dispatch_uid="audit_user_login_failed")
def _login_failed(sender, credentials, request=None, **kwargs):
    # Only the name that was tried: the (already masked) password never reaches the log.
    username = str(credentials.get("username", ""))
    record(Kind.LOGIN_FAILED, request=_http_request(request), username=username, target=username, via=_channel(request))


@receiver(user_locked_out, dispatch_uid="audit_user_locked_out")
def _locked_out(sender, request, username, ip_address, **kwargs):
    username = str(username or "")
    record(Kind.LOCKOUT, request=_http_request(request), username=username, target=username, via=_channel(request))


@receiver(user_logged_out, dispatch_uid="audit_user_logged_out")
def _logged_out(sender, request, user, **kwargs):
    if user is None:  # logging out without a session changes nothing worth keeping
        return
    record(Kind.LOGOUT, actor=user, request=_http_request(request))


@receiver(organisation_imported, dispatch_uid="audit_organisation_imported")
def _organisation_imported(sender, actor, accepted, file="", signal=None, **detail):
    record(Kind.ORG_IMPORT, actor=actor, target=file, accepted=accepted, **detail)


@receiver(post_save, sender=User, dispatch_uid="revoke_token_of_deactivated_user")
def _revoke_token_of_deactivated_user(sender, instance, raw=False, **kwargs):
    # Every way of deactivating an account (the admin, the import, a shell) ends in this save.
    if not raw and not instance.is_active:
        revoke_token(actor=None, user=instance, reason="deactivated")
