"""How the REST API authenticates: tokens that expire, and sessions only once fully logged in."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.authentication import SessionScheme
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from . import twofactor
from .services import token_expired


class ExpiringTokenAuthentication(TokenAuthentication):
    """DRF's token, refused ``API_TOKEN_TTL_HOURS`` after it was issued (401)."""

    def authenticate_credentials(self, key):
        user, token = super().authenticate_credentials(key)
        if token_expired(token):
            raise AuthenticationFailed(_("Your API token has expired. Log in again to get a new one."))
        return user, token


class VerifiedSessionAuthentication(SessionAuthentication):
    """An admin session counts for the API only after its code step: a password alone
    must not reach through the API what two-factor login guards in the admin."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None and twofactor.awaiting_second_factor(request._request.user):
            return None
        return result


class VerifiedSessionScheme(SessionScheme):
    target_class = VerifiedSessionAuthentication
