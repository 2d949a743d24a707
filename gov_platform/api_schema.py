"""The OpenAPI schema of ``/api/v1/`` documents the error answers too, with the bodies DRF sends.

drf-spectacular documents the answers a view declares. The ones every view can give whatever it declares —
401 without a valid token, 429 when throttled, 503 when the database is down, 400 for any bad parameter
or body, 404 for a bad path or page cursor, 411/413/415 for a body refused unread — are added here from what the view is built with, and every
documented error gets its body, so clients (and the contract tests) can rely on the schema for all of them.
"""

from django.utils.translation import gettext_lazy as _
from drf_spectacular import openapi
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework.authentication import SessionAuthentication

DETAIL_SCHEMA = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
# {field: [messages]}; "non_field_errors" for the whole input; a list field nests its items' messages
# under their index; a body that does not parse answers {"detail": "..."}.
VALIDATION_ERROR_SCHEMA = {
    "type": "object",
    "additionalProperties": {
        "anyOf": [
            {"type": "array", "items": {"type": "string"}},
            {"type": "object"},
            {"type": "string"},
        ]
    },
}


IDEMPOTENCY_KEY_PARAMETER = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": _(
        "Retry-safe POST: a retry with the same key from the same client within 24 hours answers with the "
        "first response (same status and body, header Idempotent-Replayed: true) without doing the work again; "
        "the same key with a different request is 422."
    ),
}


class AutoSchema(openapi.AutoSchema):
    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        responses = operation["responses"]
        if getattr(getattr(self.view, self.method.lower(), None), "idempotent", False):
            # accounts.idempotency: a retried POST with the same key gets the first answer.
            operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY_PARAMETER)
            responses.setdefault("422", {"description": _("This Idempotency-Key was used for a different request.")})
        for code, description in self._common_errors(operation).items():
            responses.setdefault(code, {"description": description})
        for code, response in responses.items():
            if code >= "400" and "content" not in response:
                schema = self._error_component(code)
                response["content"] = {"application/json": {"schema": schema}}
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _common_errors(self, operation) -> dict:
        errors = {}
        parameters = operation.get("parameters", [])
        if "requestBody" in operation or any(p["in"] == "query" for p in parameters):
            errors["400"] = _("Bad input: {field: [messages]}.")
        authenticators = self.view.get_authenticators()
        if authenticators:
            errors["401"] = _("No valid token: log in again.")
        if self.method not in ("GET", "HEAD", "OPTIONS") and any(
            isinstance(a, SessionAuthentication) for a in authenticators
        ):
            # A browser session writes only with its CSRF token.
            errors["403"] = _("Not allowed.")
        if any(p["in"] == "path" for p in parameters) or self._get_paginator() is not None:
            # A bad page cursor answers 404 like a missing object.
            errors["404"] = _("Not found.")
        if "requestBody" in operation:
            # gov_platform.middleware refuses a body before reading it: no length, or too large.
            errors["411"] = _("Send the request with its Content-Length.")
            errors["413"] = _("The request is larger than the platform accepts.")
            errors["415"] = _("Unsupported content type.")
        if self.view.get_throttles():
            errors["429"] = _("Too many requests; try later.")
        # gov_platform.middleware answers a lost database connection with Retry-After.
        errors["503"] = _("The database is unavailable; retry after the seconds in Retry-After.")
        return errors

    def _error_component(self, code):
        name, schema = ("ValidationError", VALIDATION_ERROR_SCHEMA) if code == "400" else ("Detail", DETAIL_SCHEMA)
        component = ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, object=name, schema=schema)
        self.registry.register_on_missing(component)
        return component.ref


def webhooks_as_extension(result, generator, request, public):
    """The requests we send (SPECTACULAR_SETTINGS["WEBHOOKS"]) under ``x-webhooks``: OpenAPI 3.0 has no
    ``webhooks`` root (3.1 has), and the published schema stays a valid 3.0 document."""
    if "webhooks" in result:
        result["x-webhooks"] = result.pop("webhooks")
    return result
