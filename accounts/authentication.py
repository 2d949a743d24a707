"""How the REST API authenticates: tokens that expire, and sessions only once fully logged in."""

from django.db import router
from django.utils.translation import gettext_lazy as _
from drf_spectacular.authentication import SessionScheme
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed

from gov_platform.prepared import prepared_values

from . import twofactor
from .models import User
from .services import token_expired


class ExpiringTokenAuthentication(TokenAuthentication):
    """DRF's token, refused ``API_TOKEN_TTL_HOURS`` after it was issued (401)."""

    def authenticate_credentials(self, key):
        found = _token_with_user(key) if isinstance(key, str) else None
        if found is None or not found[1].is_active:
            # DRF's own answer (its messages): no such token, or its user is inactive.
            user, token = super().authenticate_credentials(key)
        else:
            token, user = found
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


def _token_with_user(key: str):
    """The token and its user as DRF's ``select_related("user")`` gives them (each cached on the other), or None.
    Every API request reads them: the statement is built once per process (gov_platform.prepared)."""
    rows = _token_rows(key)
    if not rows:
        return None
    token_fields, user_fields = _fields()
    alias = router.db_for_read(Token)
    token = Token.from_db(alias, token_fields, rows[0][: len(token_fields)])
    user = User.from_db(alias, user_fields, rows[0][len(token_fields) :])
    relation = Token._meta.get_field("user")
    relation.set_cached_value(token, user)
    relation.remote_field.set_cached_value(user, token)
    return token, user


def _fields():
    return [f.attname for f in Token._meta.concrete_fields], [f.attname for f in User._meta.concrete_fields]


@prepared_values(Token)
def _token_rows(key):
    token_fields, user_fields = _fields()
    return Token.objects.filter(key=key).values_list(*token_fields, *(f"user__{name}" for name in user_fields))
