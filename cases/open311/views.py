"""GeoReport v2 endpoints. Each reads through ``selectors`` and answers a ``documents`` document in the
format the path ends with (.json or .xml); every refusal is the specification's error list
[{code, description}] in that format, with the HTTP status (400 bad input naming the field, 403 api_key,
404 unknown id or service, 413 body too large, 429 throttled)."""

from datetime import datetime, time, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.parsers import FormParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from accounts.idempotency import idempotent
from gov_platform.errors import error_dict

from .. import external
from ..api.intake import IntakeThrottle
from ..models import ExternalSystem
from . import documents, selectors, services
from .renderers import Open311JSONRenderer, Open311XMLRenderer
from .serializers import (
    Open311CreatedRequestSerializer,
    Open311DiscoverySerializer,
    Open311NewRequestSerializer,
    Open311ServiceDefinitionSerializer,
    Open311ServiceRequestSerializer,
    Open311ServiceSerializer,
    Open311TokenSerializer,
)

# The specification's default window and its cap on one answer; pages are this platform's extension.
WINDOW = timedelta(days=90)
PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
# The last change to what discovery describes (formats, endpoints): clients refresh cached definitions.
CHANGESET = "2026-11-30"


class Open311Refusal(exceptions.APIException):
    """A refusal with the specification's status and a description naming what was wrong."""

    def __init__(self, status_code: int, description: str, field: str = ""):
        super().__init__(description)
        self.status_code = status_code
        self.field = field


def bad(field: str, message: str) -> Open311Refusal:
    return Open311Refusal(400, f"{field}: {message}", field)


def _descriptions(detail, field="") -> list[tuple[str, str]]:
    """DRF's error detail (a string, a list, or {field: messages}) as (field, line) pairs, the line naming the field."""
    if isinstance(detail, dict):
        return [pair for name, messages in detail.items() for pair in _descriptions(messages, name)]
    if isinstance(detail, list):
        return [pair for item in detail for pair in _descriptions(item, field)]
    return [(field, f"{field}: {detail}" if field else str(detail))]


def error_response(status_code: int, errors: list[tuple[str, str]], headers=None) -> Response:
    response = Response(
        [documents.error(status_code, text) for _field, text in errors], status=status_code, headers=headers
    )
    response.open311_root = "errors"
    # What a refused system's log records (external.record_refusal): the first field and message.
    response.refusal = errors[0] if errors else ("", "")
    return response


FORMAT = OpenApiParameter(
    "response_format",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    enum=["json", "xml"],
    description=gettext_lazy("json or xml: the format of the answer, errors included."),
)
# DRF's ?format= is not offered: the path's suffix decides.
NO_QUERY_FORMAT = OpenApiParameter("format", exclude=True)
JURISDICTION = OpenApiParameter(
    "jurisdiction_id",
    OpenApiTypes.STR,
    description=gettext_lazy("Optional: this endpoint serves one jurisdiction; another one is 404."),
)


def _errors(*codes) -> dict:
    described = {
        400: gettext_lazy("Bad input, naming the field."),
        403: gettext_lazy("api_key missing, unknown, or not allowed to file this."),
        404: gettext_lazy("Unknown jurisdiction_id, service_code, service_request_id or token."),
        405: gettext_lazy("This resource does not take that method."),
        411: gettext_lazy("Send the request with its Content-Length."),
        413: gettext_lazy("The body is larger than this endpoint accepts."),
        415: gettext_lazy("Send application/x-www-form-urlencoded."),
        422: gettext_lazy("This Idempotency-Key was used for a different request."),
        429: gettext_lazy("Too many requests; try later."),
        503: gettext_lazy("The database is unavailable; retry after the seconds in Retry-After."),
    }
    return {code: OpenApiResponse(ERROR_LIST, description=described[code]) for code in codes}


READ_ERRORS = (400, 404, 429, 503)
# The specification's error document: a list, also for one error (drf-spectacular lists only 2xx bodies).
ERROR_LIST = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "code": {"type": "integer", "description": gettext_lazy("The HTTP status.")},
            "description": {"type": "string", "description": gettext_lazy("What went wrong, naming the field.")},
        },
        "required": ["code", "description"],
    },
}


class ApiKeyAuthentication(BaseAuthentication):
    """A POST's ``api_key`` (a form field, or in the query string) is an external system's key
    (cases/external.py): the request runs as the system's service account, ``request.auth`` the system."""

    def authenticate(self, request):
        if request.method != "POST":
            return None
        key = (request.data.get("api_key") or request.query_params.get("api_key") or "").strip()
        if not key:
            raise exceptions.AuthenticationFailed(_("api_key: missing; POST requests is for registered systems."))
        system = external.system_for_key(key)
        if system is None:
            raise exceptions.AuthenticationFailed(_("api_key: unknown or inactive key."))
        return system.service_user, system


def _system_in_query(request) -> ExternalSystem | None:
    """The system whose key is in the query string, for logging a body refused unread."""
    return external.system_for_key(request.query_params.get("api_key", "").strip())


class Open311View(APIView):
    """Public by default (no login, no session); the format comes from the path."""

    authentication_classes = []
    permission_classes = [AllowAny]
    renderer_classes = [Open311JSONRenderer, Open311XMLRenderer]
    parser_classes = [FormParser]
    throttle_classes = [AnonRateThrottle]
    # No OPTIONS description: the specification has none, and discovery says what is here.
    metadata_class = None
    root = ""

    def get_format_suffix(self, **kwargs):
        return kwargs.get("response_format")

    def initial(self, request, *args, **kwargs):
        if request.method == "POST":
            # Refused before DRF's own set-up runs: the answer still needs the path's format.
            self.format_kwarg = self.get_format_suffix(**kwargs)
            self.check_size(request)
        super().initial(request, *args, **kwargs)
        self.check_jurisdiction(request)

    def check_size(self, request):
        """A body larger than an intake event may be (INTAKE_MAX_BYTES) is refused unread: 413."""
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > settings.INTAKE_MAX_BYTES:
            self.refused_system = _system_in_query(request)
            raise Open311Refusal(
                413, _("The body is larger than the %(n)d bytes accepted.") % {"n": settings.INTAKE_MAX_BYTES}
            )

    def check_jurisdiction(self, request):
        wanted = request.query_params.get("jurisdiction_id", "").strip()
        if not wanted and request.method == "POST":
            wanted = (request.data.get("jurisdiction_id") or "").strip()
        if wanted and wanted != settings.OPEN311_JURISDICTION_ID:
            raise Open311Refusal(
                404, _("jurisdiction_id: %(id)s is not served here.") % {"id": wanted}, "jurisdiction_id"
            )

    def document(self, data, *, root=None, status_code=200, headers=None) -> Response:
        response = Response(data, status=status_code, headers=headers)
        response.open311_root = root or self.root
        return response

    def handle_exception(self, exc):
        headers = {}
        if isinstance(exc, DjangoValidationError):
            exc = exceptions.ValidationError(error_dict(exc))
        elif isinstance(exc, external.OutsideScope):
            exc = exceptions.PermissionDenied(exc.errors)
        elif isinstance(exc, services.UnknownService):
            exc = Open311Refusal(404, str(exc), "service_code")
        elif isinstance(exc, DjangoPermissionDenied):
            exc = Open311Refusal(403, str(exc) or _("Not allowed."))
        elif isinstance(exc, Http404):
            exc = exceptions.NotFound()
        elif isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            # The specification: a missing or wrong api_key is 403, never 401.
            exc = Open311Refusal(403, str(exc.detail), "api_key")
        if not isinstance(exc, exceptions.APIException):
            return super().handle_exception(exc)
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            headers["Retry-After"] = str(int(exc.wait))
        if isinstance(exc, exceptions.MethodNotAllowed):
            headers["Allow"] = ", ".join(self.allowed_methods)
        errors = [(getattr(exc, "field", ""), str(exc.detail))] if isinstance(exc, Open311Refusal) else []
        response = error_response(exc.status_code, errors or _descriptions(exc.detail), headers=headers)
        response.exception = True
        return response

    def finalize_response(self, request, response, *args, **kwargs):
        if isinstance(response, Response) and not hasattr(response, "open311_root"):
            # An answer made elsewhere: a replay of the first answer to an Idempotency-Key (its data kept
            # as sent), or the 422 for a key reused with another request ({"detail": ...}).
            if response.status_code >= 400:
                data = response.data
                detail = str(data.get("detail", "")) if isinstance(data, dict) else str(data)
                field = "Idempotency-Key" if response.status_code == 422 else ""
                response = error_response(response.status_code, [(field, f"{field}: {detail}" if field else detail)])
            else:
                if request.method == "POST" and isinstance(response.data, list):
                    response.data = documents.created_again(response.data)
                response.open311_root = self.root
        response = super().finalize_response(request, response, *args, **kwargs)
        system = getattr(self, "system", None) or getattr(self, "refused_system", None)
        if request.method == "POST" and isinstance(system, ExternalSystem) and response.status_code >= 400:
            field, reason = getattr(response, "refusal", ("", ""))
            external.record_refusal(
                system=system,
                request=request,
                endpoint=request.path,
                status_code=response.status_code,
                field=field,
                reason=reason.removeprefix(f"{field}: ") if field else reason,
            )
        return response


@extend_schema_view(
    get=extend_schema(
        operation_id="open311_services",
        summary=gettext_lazy("Open311: the services (categories residents may report)"),
        tags=["open311"],
        parameters=[FORMAT, NO_QUERY_FORMAT, JURISDICTION],
        responses={200: Open311ServiceSerializer(many=True), **_errors(*READ_ERRORS)},
    )
)
class ServiceListView(Open311View):
    root = "services"

    def get(self, request, response_format):
        return self.document([documents.service(c) for c in selectors.public_services()])


@extend_schema_view(
    get=extend_schema(
        operation_id="open311_service_definition",
        summary=gettext_lazy("Open311: a service's definition (its attributes: none)"),
        tags=["open311"],
        parameters=[
            FORMAT,
            NO_QUERY_FORMAT,
            JURISDICTION,
            OpenApiParameter("service_code", OpenApiTypes.STR, OpenApiParameter.PATH),
        ],
        responses={200: Open311ServiceDefinitionSerializer, **_errors(*READ_ERRORS)},
    )
)
class ServiceDefinitionView(Open311View):
    root = "service_definition"

    def get(self, request, service_code, response_format):
        category = selectors.public_service(service_code)
        if category is None:
            raise Open311Refusal(404, _("service_code: %(code)s was not found.") % {"code": service_code})
        return self.document(documents.service_definition(category))


def _moment(field: str, text: str, *, end=False):
    """A W3C date-time (2010-01-01T00:00:00Z, with an offset, or a bare date: its whole day, district time)."""
    try:
        moment = parse_datetime(text)
        if moment is None and (day := parse_date(text)) is not None:
            moment = datetime.combine(day, time.max if end else time.min)
    except ValueError:
        moment = None
    if moment is None:
        raise bad(field, _("Not a W3C date-time such as 2010-01-01T00:00:00Z."))
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


def _codes(field: str, text: str, limit: int) -> list[str]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    if len(values) > limit:
        raise bad(field, _("At most %(n)d values.") % {"n": limit})
    return values


def _positive(field: str, text: str, default: int, maximum: int) -> int:
    if not text:
        return default
    if not text.isdigit() or not 1 <= int(text) <= maximum:
        raise bad(field, _("A whole number from 1 to %(max)d.") % {"max": maximum})
    return int(text)


def window(start_text: str, end_text: str, now):
    """The requested_datetime range: the specification's 90 days at most, the latest 90 by default."""
    start = _moment("start_date", start_text) if start_text else None
    end = _moment("end_date", end_text, end=True) if end_text else None
    if start and end:
        if end < start:
            raise bad("end_date", _("Before start_date."))
        if end - start > WINDOW:
            raise bad("end_date", _("The period may not span more than 90 days."))
        return start, end
    if start:
        return start, start + WINDOW
    end = end or now
    return end - WINDOW, end


def filter_requests(params, now):
    """The cases a GET requests query names, and the page to show: (queryset, page, page size).

    service_request_id overrides every other argument, as the specification says."""
    cases = selectors.public_requests()
    ids = _codes("service_request_id", params.get("service_request_id", ""), MAX_PAGE_SIZE)
    if ids:
        return cases.filter(number__in=ids), 1, MAX_PAGE_SIZE
    codes = _codes("service_code", params.get("service_code", ""), MAX_PAGE_SIZE)
    if codes:
        known = set(selectors.public_services().filter(code__in=codes).values_list("code", flat=True))
        unknown = [c for c in codes if c not in known]
        if unknown:
            raise bad("service_code", _("Unknown service: %(codes)s.") % {"codes": ", ".join(unknown)})
        cases = cases.filter(category__code__in=codes)
    statuses = _codes("status", params.get("status", "").lower(), 2)
    if set(statuses) - {selectors.OPEN, selectors.CLOSED}:
        raise bad("status", _("open or closed, or both separated by a comma."))
    if statuses:
        cases = cases.filter(selectors.status_q(statuses))
    start, end = window(params.get("start_date", "").strip(), params.get("end_date", "").strip(), now)
    cases = cases.filter(reported_at__gte=start, reported_at__lte=end)
    page = _positive("page", params.get("page", "").strip(), 1, 1_000_000)
    size = _positive("page_size", params.get("page_size", "").strip(), PAGE_SIZE, MAX_PAGE_SIZE)
    return cases, page, size


def request_documents(cases) -> list[dict]:
    notes = selectors.latest_public_steps(row["pk"] for row in cases)
    return [documents.service_request(row, notes.get(row["pk"])) for row in cases]


REQUEST_FILTERS = [
    OpenApiParameter(
        "service_request_id",
        OpenApiTypes.STR,
        description=gettext_lazy("Case numbers, comma separated; overrides every other argument."),
    ),
    OpenApiParameter("service_code", OpenApiTypes.STR, description=gettext_lazy("Service codes, comma separated.")),
    OpenApiParameter(
        "start_date",
        OpenApiTypes.STR,
        description=gettext_lazy("W3C date-time; with end_date at most 90 days apart. Default: the latest 90 days."),
    ),
    OpenApiParameter("end_date", OpenApiTypes.STR, description=gettext_lazy("W3C date-time.")),
    OpenApiParameter("status", OpenApiTypes.STR, description=gettext_lazy("open, closed, or open,closed.")),
    OpenApiParameter(
        "page", OpenApiTypes.INT, description=gettext_lazy("Extension: page number from 1 (newest first).")
    ),
    OpenApiParameter(
        "page_size",
        OpenApiTypes.INT,
        description=gettext_lazy("Extension: requests per page, 100 by default, at most 1000."),
    ),
]


class OpenForSystems(AllowAny):
    """Reading is public; a POST needs a registered system's api_key (ApiKeyAuthentication)."""

    def has_permission(self, request, view):
        return request.method != "POST" or isinstance(request.auth, ExternalSystem)


@extend_schema_view(
    get=extend_schema(
        operation_id="open311_requests",
        summary=gettext_lazy("Open311: service requests (cases of the public categories)"),
        description=gettext_lazy(
            "Newest first, 100 per page (page_size up to 1000). A further page is named in the Link header "
            '(rel="next"). No personal data: no reporter, no contact.'
        ),
        tags=["open311"],
        parameters=[FORMAT, NO_QUERY_FORMAT, JURISDICTION, *REQUEST_FILTERS],
        responses={200: Open311ServiceRequestSerializer(many=True), **_errors(*READ_ERRORS)},
    )
)
class ServiceRequestListView(Open311View):
    root = "service_requests"
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [OpenForSystems]

    def get_authenticators(self):
        # The schema generator reads authenticators as "401 possible"; a wrong api_key is 403 here.
        return [] if getattr(self, "swagger_fake_view", False) else super().get_authenticators()

    def perform_authentication(self, request):
        super().perform_authentication(request)
        self.system = request.auth if isinstance(request.auth, ExternalSystem) else None

    def get_throttles(self):
        # A system files at its own machine's rate, shared with its intake calls; readers per address.
        return [IntakeThrottle()] if self.request.method == "POST" else super().get_throttles()

    def permission_denied(self, request, message=None, code=None):
        raise Open311Refusal(403, _("api_key: missing; POST requests is for registered systems."), "api_key")

    @extend_schema(
        operation_id="open311_request_create",
        summary=gettext_lazy("Open311: file a service request (registered external systems)"),
        description=gettext_lazy(
            "application/x-www-form-urlencoded with the system's api_key. The place: lat and long (located "
            "by the district's grid boundaries), else address_id (a grid's or building's code), else "
            "address_string. first_name, last_name, phone and email are the resident's contact: stored and "
            "shown masked, never published. Filed through the one case service under the system's scope: "
            "a category, area or source it may not file is 403 naming the field; the case's source is the "
            "first the system is registered with (or the extension field source). realtime: the answer "
            "carries service_request_id, never a token. Refused calls are logged for the system."
        ),
        tags=["open311"],
        parameters=[FORMAT, NO_QUERY_FORMAT],
        request={"application/x-www-form-urlencoded": Open311NewRequestSerializer},
        responses={
            201: Open311CreatedRequestSerializer(many=True),
            **_errors(400, 403, 404, 411, 413, 415, 422, 429, 503),
        },
    )
    @idempotent
    def post(self, request, response_format):
        case = services.file_request(system=request.auth, data=request.data)
        return self.document([documents.created(case)], status_code=201)

    def get(self, request, response_format):
        cases, page, size = filter_requests(request.query_params, timezone.now())
        rows = list(cases[(page - 1) * size : page * size + 1])
        headers = {}
        if len(rows) > size:
            rows = rows[:size]
            query = {**request.query_params.dict(), "page": page + 1, "page_size": size}
            headers["Link"] = f'<{request.build_absolute_uri(request.path)}?{urlencode(query)}>; rel="next"'
        return self.document(request_documents(rows), headers=headers)


@extend_schema_view(
    get=extend_schema(
        operation_id="open311_request",
        summary=gettext_lazy("Open311: one service request"),
        tags=["open311"],
        parameters=[
            FORMAT,
            JURISDICTION,
            OpenApiParameter("service_request_id", OpenApiTypes.STR, OpenApiParameter.PATH),
        ],
        responses={200: Open311ServiceRequestSerializer(many=True), **_errors(*READ_ERRORS)},
    )
)
class ServiceRequestView(Open311View):
    root = "service_requests"

    def get(self, request, service_request_id, response_format):
        case = selectors.public_request(service_request_id)
        if case is None:
            raise Open311Refusal(404, _("service_request_id: %(id)s was not found.") % {"id": service_request_id})
        return self.document(request_documents([case]))


@extend_schema_view(
    get=extend_schema(
        operation_id="open311_token",
        summary=gettext_lazy("Open311: the service request of a token (a resident's tracking code)"),
        tags=["open311"],
        parameters=[
            FORMAT,
            NO_QUERY_FORMAT,
            JURISDICTION,
            OpenApiParameter("token", OpenApiTypes.STR, OpenApiParameter.PATH),
        ],
        responses={200: Open311TokenSerializer(many=True), **_errors(*READ_ERRORS)},
    )
)
class TokenView(Open311View):
    root = "service_requests"

    def get(self, request, token, response_format):
        case = selectors.public_token(token)
        if case is None:
            raise Open311Refusal(404, _("token: %(token)s was not found.") % {"token": token})
        return self.document([documents.token(case)])


@extend_schema_view(
    get=extend_schema(
        operation_id="open311_discovery",
        summary=gettext_lazy("Open311: service discovery"),
        tags=["open311"],
        parameters=[FORMAT, NO_QUERY_FORMAT],
        responses={200: Open311DiscoverySerializer, **_errors(404, 429, 503)},
    )
)
class DiscoveryView(Open311View):
    root = "discovery"

    def check_jurisdiction(self, request):
        pass  # discovery describes the endpoint; it takes no arguments

    def get(self, request, response_format):
        url = request.build_absolute_uri(reverse("open311:services", kwargs={"response_format": "json"})).rsplit(
            "/", 1
        )[0]
        return self.document(documents.discovery(url, CHANGESET))
