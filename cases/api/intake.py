"""``/api/v1/intake/``: external systems file events and read back the public state of their cases.

Only a system's key opens these endpoints (cases/api/authentication.py); every refused call is logged
for the system (``IntakeRefusal``, in the admin) whatever refused it: bad input, scope, size, a replay.
"""

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    OpenApiWebhook,
    extend_schema,
    inline_serializer,
)
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from accounts.idempotency import idempotent
from outbox.backends import webhook

from .. import external, intake, selectors, webhooks
from ..models import Case, ExternalSystem, Rating, Source
from .authentication import ExternalSystemAuthentication

SIX_PLACES = Decimal("0.000001")


class IsExternalSystem(BasePermission):
    message = _("Only a registered external system may call the intake.")

    def has_permission(self, request, view):
        return isinstance(request.auth, ExternalSystem)


class IntakeThrottle(UserRateThrottle):
    """Per system, at a machine's rate (a video platform sends bursts), not a person's."""

    scope = "intake"

    def get_rate(self):
        return settings.INTAKE_THROTTLE


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


def _coordinate(value):
    if value is None:
        return None
    return Decimal(str(value)).quantize(SIX_PLACES, rounding=ROUND_HALF_UP)


class IntakeEventSerializer(serializers.Serializer):
    external_id = serializers.RegexField(
        r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$",
        max_length=64,
        help_text=_("The event's id in the sending system (letters, digits and _ . : -); a repeat files nothing new."),
    )
    category = serializers.CharField(
        max_length=16,
        required=False,
        help_text=_("Code of a subcategory of the responsibility list (see categories/)."),
    )
    title = serializers.CharField(max_length=100, required=False, allow_blank=True)
    description = serializers.CharField(max_length=5000, required=False)
    grid = serializers.CharField(
        max_length=16, required=False, allow_blank=True, help_text=_("The grid's code; or give latitude and longitude.")
    )
    latitude = serializers.FloatField(min_value=-90, max_value=90, required=False)
    longitude = serializers.FloatField(min_value=-180, max_value=180, required=False)
    address = serializers.CharField(max_length=200, required=False, allow_blank=True)
    source = serializers.ChoiceField(
        choices=Source.choices,
        required=False,
        help_text=_("One of the sources registered for the system; may be left out when it has only one."),
    )
    contact_name = serializers.CharField(
        max_length=50, required=False, allow_blank=True, help_text=_("The caller's name (hotline).")
    )
    contact_phone = serializers.CharField(
        max_length=20, required=False, allow_blank=True, help_text=_("The caller's phone (hotline): shown masked.")
    )
    occurred_at = serializers.DateTimeField(
        required=False, help_text=_("When it happened or the call came in (ISO 8601 with time zone).")
    )
    camera = serializers.CharField(
        max_length=64, required=False, help_text=_("Video alarms: the camera's code; the case lands in its grid.")
    )
    event_type = serializers.CharField(
        max_length=64, required=False, help_text=_("Video alarms: the event type, mapped to a category.")
    )
    snapshot = serializers.CharField(
        max_length=500, required=False, allow_blank=True, help_text=_("Video alarms: the address of the picture.")
    )

    def validate(self, attrs):
        lat, lng = attrs.get("latitude"), attrs.get("longitude")
        if (lat is None) != (lng is None):
            raise serializers.ValidationError({"longitude" if lng is None else "latitude": _("Give both or neither.")})
        needed = ("event_type", "occurred_at") if attrs.get("camera") else ("category", "description")
        missing = {name: self.fields[name].error_messages["required"] for name in needed if not attrs.get(name)}
        if missing:
            raise serializers.ValidationError(missing)
        attrs["latitude"], attrs["longitude"] = _coordinate(lat), _coordinate(lng)
        return attrs


class IntakeCaseSerializer(serializers.Serializer):
    """What a system reads of its case: public state only (no comments, no people, no contact)."""

    id = serializers.IntegerField()
    number = serializers.CharField(allow_null=True)
    tracking_code = serializers.CharField()
    external_id = serializers.CharField()
    status = serializers.ChoiceField(choices=list(selectors.PUBLIC_STATUS))
    status_label = serializers.CharField(help_text=_("The state as residents read it."))
    created = serializers.BooleanField(help_text=_("True when this call filed the case."))


def case_result(case: Case, *, created: bool) -> dict:
    return {
        "id": case.pk,
        "number": case.number,
        "tracking_code": case.tracking_code,
        "external_id": case.external_id,
        "status": case.status,
        "status_label": str(selectors.PUBLIC_STATUS[case.status]),
        "created": created,
    }


REFUSED = inline_serializer(
    "IntakeRefused",
    {"detail": serializers.CharField(), "field": serializers.CharField(required=False)},
)
INTAKE_ERRORS = {
    400: OpenApiResponse(description=_("Bad input: {field: [messages]}; nothing was filed.")),
    403: OpenApiResponse(
        REFUSED, description=_("Outside the system's scope (category, grid or source): `field` names which.")
    ),
    413: OpenApiResponse(description=_("The body is larger than INTAKE_MAX_BYTES.")),
}


class IntakeView(APIView):
    """Shared by the intake endpoints: a system's key, its rate, its refusals logged."""

    authentication_classes = [ExternalSystemAuthentication]
    permission_classes = [IsExternalSystem]
    throttle_classes = [IntakeThrottle]
    parser_classes = [JSONParser]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # After the key is checked (so the refusal is logged for the system), before the body is read.
        self.check_size(request)

    def check_size(self, request):
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > settings.INTAKE_MAX_BYTES:
            raise PayloadTooLarge(
                _("The body is larger than the %(n)d bytes the intake accepts.") % {"n": settings.INTAKE_MAX_BYTES}
            )

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        system = getattr(request, "auth", None)
        if isinstance(system, ExternalSystem) and response.status_code >= 400:
            field, reason = _first_error(getattr(response, "data", None))
            external.record_refusal(
                system=system,
                request=request,
                endpoint=request.path,
                status_code=response.status_code,
                field=field,
                reason=reason,
                external_id=_external_id(request, kwargs),
            )
        return response


def _first_error(data) -> tuple[str, str]:
    if not isinstance(data, dict) or not data:
        return "", ""
    if "detail" in data:
        return str(data.get("field", "")), str(data["detail"])
    field, messages = next(iter(data.items()))
    if isinstance(messages, list | tuple):
        messages = " ".join(str(m) for m in messages)
    return str(field), str(messages)


def _external_id(request, kwargs) -> str:
    if kwargs.get("external_id"):
        return kwargs["external_id"]
    try:
        data = request.data
    except exceptions.APIException:
        return ""
    return str(data.get("external_id", "")) if isinstance(data, dict) else ""


class IntakeEventView(IntakeView):
    @extend_schema(
        operation_id="intake_create",
        summary=_("File an event from an external system"),
        description=_(
            "A hotline call, a department's report or a video alarm. `external_id` is unique per system: "
            "the first call answers 201 with the new case, a repeat 200 with the same case (nothing new filed). "
            "Give `category` (a subcategory's code) and `description` with `grid` or `latitude`/`longitude` "
            "(located by the district's grid boundaries), or for a video alarm `camera`, `event_type` and "
            "`occurred_at` (the case lands in the camera's grid; an alarm of the same camera and category within "
            "the alarm window counts on the open case, 200). The caller's contact is stored like a resident's "
            "and shown masked. Refused calls are logged for the system; the body is at most INTAKE_MAX_BYTES."
        ),
        tags=["intake"],
        request=IntakeEventSerializer,
        responses={200: IntakeCaseSerializer, 201: IntakeCaseSerializer, **INTAKE_ERRORS},
        examples=[
            OpenApiExample(
                "12345 hotline call",
                request_only=True,
                value={
                    "external_id": "12345-20261130-0001",
                    "category": "0201",
                    "description": "小区门口井盖缺失，夜间有安全隐患",
                    "latitude": 36.7012,
                    "longitude": 119.1523,
                    "source": "hotline",
                    "contact_name": "张先生",
                    "contact_phone": "13912345678",
                    "occurred_at": "2026-11-30T09:15:00+08:00",
                },
            ),
            OpenApiExample(
                "Video alarm",
                request_only=True,
                value={
                    "external_id": "ALARM-88812",
                    "camera": "CAM-370702001-0001",
                    "event_type": "street_vendor",
                    "occurred_at": "2026-11-30T09:15:00+08:00",
                },
            ),
        ],
    )
    @idempotent
    def post(self, request):
        system = request.auth
        serializer = IntakeEventSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        try:
            if data.get("camera"):
                result = intake.file_alarm(
                    system=system,
                    external_id=data["external_id"],
                    camera=data["camera"],
                    event_type=data["event_type"],
                    occurred_at=data["occurred_at"],
                    snapshot=data.get("snapshot", ""),
                )
            else:
                for name in ("camera", "event_type", "snapshot"):
                    data.pop(name, None)
                result = intake.file_event(system=system, **data)
        except external.OutsideScope as exc:
            return Response({"detail": str(exc), "field": exc.field}, status=status.HTTP_403_FORBIDDEN)
        return Response(
            IntakeCaseSerializer(case_result(result.case, created=result.created)).data,
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


class IntakeCaseView(IntakeView):
    @extend_schema(
        operation_id="intake_retrieve",
        summary=_("The public state of a case the system filed"),
        description=_("By the system's own `external_id`; another system's cases answer 404."),
        tags=["intake"],
        responses={200: IntakeCaseSerializer, 404: OpenApiResponse(description=_("No such event of this system."))},
    )
    def get(self, request, external_id):
        case = intake.existing_case(request.auth, external_id)
        if case is None:
            raise exceptions.NotFound(_("No such event of this system."))
        return Response(IntakeCaseSerializer(case_result(case, created=False)).data)


class IntakeRatingSerializer(serializers.Serializer):
    rating = serializers.ChoiceField(choices=Rating.choices)
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True)


SIGNATURE_PARAMETERS = [
    OpenApiParameter(
        webhook.TIMESTAMP_HEADER,
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        required=True,
        description=_("When the callback was signed, in Unix seconds; refused when off our clock by more than 5 min."),
    ),
    OpenApiParameter(
        webhook.SIGNATURE_HEADER,
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        required=True,
        description=_("sha256=<hex HMAC-SHA256 of “<X-Timestamp>.<raw body>” with the system's webhook secret>."),
    ),
]


class IntakeRatingView(IntakeView):
    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        try:
            webhooks.verify_callback(
                system=request.auth,
                timestamp=request.headers.get(webhook.TIMESTAMP_HEADER, ""),
                signature=request.headers.get(webhook.SIGNATURE_HEADER, ""),
                body=request.body,
            )
        except webhooks.CallbackRefused as exc:
            error = exceptions.NotAuthenticated if exc.status_code == 401 else exceptions.PermissionDenied
            raise error(str(exc)) from None

    @extend_schema(
        operation_id="intake_rating",
        summary=_("The system's return-visit rating of its case (signed callback)"),
        description=_(
            "The 12345 hotline's own return visit (回访) comes back as the resident's rating of a fed-back case, "
            "through the rate step. Signed like the webhooks we send: X-Timestamp and X-Signature over the raw "
            "body with the system's webhook secret. Unsigned or a wrong signature is 401; a timestamp more than "
            "WEBHOOK_TOLERANCE_SECONDS away, or a signature already received (a replay), is 403; a case not "
            "waiting for a rating is 409."
        ),
        tags=["intake"],
        parameters=SIGNATURE_PARAMETERS,
        request=IntakeRatingSerializer,
        responses={
            200: IntakeCaseSerializer,
            401: OpenApiResponse(description=_("Unsigned, or the signature does not match.")),
            403: OpenApiResponse(description=_("Stale timestamp or replayed callback.")),
            404: OpenApiResponse(description=_("No such event of this system.")),
            409: OpenApiResponse(description=_("The case is not waiting for a rating.")),
        },
    )
    @idempotent
    def post(self, request, external_id):
        case = intake.existing_case(request.auth, external_id)
        if case is None:
            raise exceptions.NotFound(_("No such event of this system."))
        serializer = IntakeRatingSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        case = intake.record_rating(
            system=request.auth,
            case=case,
            rating=serializer.validated_data["rating"],
            comment=serializer.validated_data.get("comment", ""),
        )
        return Response(IntakeCaseSerializer(case_result(case, created=False)).data)


# --- the webhook we send (documented under the schema's "webhooks"; cases/webhooks.py sends it) -------------
class CaseStateWebhookSerializer(serializers.Serializer):
    event = serializers.ChoiceField(choices=["case.state_changed"])
    external_id = serializers.CharField(help_text=_("The system's own id of the event that filed the case."))
    case_number = serializers.CharField(allow_null=True)
    tracking_code = serializers.CharField()
    status = serializers.ChoiceField(choices=list(selectors.PUBLIC_STATUS))
    status_label = serializers.CharField(help_text=_("The state as residents read it."))
    step = serializers.CharField(help_text=_("The step taken (one with a public label)."))
    step_label = serializers.CharField(help_text=_("The step's public label."))
    at = serializers.DateTimeField()
    result = serializers.CharField(
        allow_blank=True, help_text=_("The handling result once fed back, contacts masked; empty before.")
    )
    rating = serializers.ChoiceField(choices=Rating.choices, allow_null=True)


CASE_STATE_WEBHOOK = OpenApiWebhook(
    name="caseStateChanged",
    decorator=extend_schema(
        summary=_("A public state change of a case the system filed"),
        description=_(
            "POSTed to the system's webhook URL through the outbox (retried with backoff until a 2xx). Headers: "
            "X-Webhook-Id (the same on every retry of one change), X-Timestamp (Unix seconds, signed afresh on "
            "each attempt) and X-Signature: sha256=<hex HMAC-SHA256 of “<X-Timestamp>.<raw body>” with the "
            "system's webhook secret>. Public state only: no comment, person or contact."
        ),
        request=CaseStateWebhookSerializer,
        responses={200: OpenApiResponse(description=_("Received."))},
    ),
)
