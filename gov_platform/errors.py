"""Domain errors mapped once: to API responses (400/403/409) and onto form fields.

Services raise Django's ``ValidationError`` (with field names) and
``PermissionDenied``, and ``StateConflict`` when the object moved on meanwhile.
The API's exception handler turns them into DRF responses; the admin and the
resident pages put them on the form with ``add_service_errors``.
"""

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler


class StateConflict(Exception):
    """The object is no longer in a state that allows the change (someone else moved it)."""


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = _("The case changed meanwhile; reload it.")
    default_code = "conflict"


def error_dict(exc: DjangoValidationError) -> dict:
    """A Django ValidationError as DRF's {field: [messages]} (non-field messages under DRF's key)."""
    non_field = api_settings.NON_FIELD_ERRORS_KEY
    if hasattr(exc, "error_dict"):
        return {(non_field if f == NON_FIELD_ERRORS else f): list(m) for f, m in exc.message_dict.items()}
    return {non_field: exc.messages}


def api_exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(error_dict(exc))
    elif isinstance(exc, StateConflict):
        exc = Conflict(str(exc))
    elif isinstance(exc, DjangoPermissionDenied) and str(exc):
        # DRF's own mapping drops the service's message; keep it.
        exc = exceptions.PermissionDenied(str(exc))
    return exception_handler(exc, context)


def add_service_errors(form, exc: DjangoValidationError, *, renamed=None) -> None:
    """Put a service's ValidationError on ``form``: each message on its field, or on the form when it has none."""
    renamed = renamed or {}
    messages = exc.message_dict if hasattr(exc, "error_dict") else {NON_FIELD_ERRORS: exc.messages}
    for field, errors in messages.items():
        field = renamed.get(field, field)
        form.add_error(field if field in form.fields else None, errors)
