"""External systems authenticate with their own key (cases/external.py says why not a person's token)."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from .. import external

KEYWORD = "System"


class ExternalSystemAuthentication(BaseAuthentication):
    """``Authorization: System <key>``: the request runs as the system's service account,
    with ``request.auth`` the ``ExternalSystem``. Only the intake endpoints list this class,
    so a system's key opens nothing else of the API."""

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None
        if len(parts) != 2:
            raise AuthenticationFailed(_("Send the system's key as: Authorization: System <key>."))
        try:
            key = parts[1].decode()
        except UnicodeError as exc:
            raise AuthenticationFailed(_("Unknown or inactive system key.")) from exc
        system = external.system_for_key(key)
        if system is None:
            raise AuthenticationFailed(_("Unknown or inactive system key."))
        return system.service_user, system

    def authenticate_header(self, request):
        return KEYWORD


class ExternalSystemScheme(OpenApiAuthenticationExtension):
    target_class = ExternalSystemAuthentication
    name = "externalSystemKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": str(_("An external system's key, issued once in the admin: “Authorization: System <key>”.")),
        }
