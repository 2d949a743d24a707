"""Middleware of the platform: a lost database connection answers 503 so clients retry; a request
larger than the platform accepts answers 413 before its body is read; every request is timed for
Prometheus by the view that answered it (served at /metrics by metrics.prometheus)."""

import logging
import time
from xml.sax.saxutils import escape

from django.conf import settings
from django.db import InterfaceError, OperationalError, connections
from django.http import HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from prometheus_client import Histogram

from .uploads import RequestTooLarge

logger = logging.getLogger(__name__)

REQUEST_SECONDS = Histogram(
    "gov_request_duration_seconds",
    "Time to answer a request, by view (URL name) and method.",
    ["view", "method"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10),
)


class RequestMetricsMiddleware:
    """Times every request under the name of the view that answered it (not the path: ids would explode it)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = (match.view_name or match._func_path) if match else "unresolved"
        REQUEST_SECONDS.labels(view=view, method=request.method).observe(time.perf_counter() - started)
        return response


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        logger.error("Database unavailable: %s", exception)
        # Drop broken connections now so the next request in this worker reconnects.
        for connection in connections.all(initialized_only=True):
            connection.close_if_unusable_or_obsolete()
        if request.path.startswith("/api/"):
            response = JsonResponse({"detail": "The database is unavailable; try again shortly."}, status=503)
        elif request.path.startswith(OPEN311_PREFIX):
            response = open311_error(request, 503, "The database is unavailable; try again shortly.")
        else:
            response = HttpResponse(
                "数据库暂时不可用，请稍后重试。The database is unavailable; try again shortly.",
                status=503,
                content_type="text/plain; charset=utf-8",
            )
        response["Retry-After"] = "5"
        return response


class RequestSizeLimitMiddleware:
    """Refuse a body over ``MAX_REQUEST_BYTES`` by its declared length (413), and one that does not
    declare it (411), so nothing of it is read or spooled. Placed after LocaleMiddleware (the
    message is translated) and before anything that reads the body (CSRF, the views)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        declared = request.META.get("CONTENT_LENGTH") or ""
        if declared.strip():
            try:
                too_large = int(declared) > settings.MAX_REQUEST_BYTES
            except ValueError:
                return self._refuse(request, 400, _("The request's Content-Length is not a number."))
            if too_large:
                return self._too_large(request)
        elif "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            # Django would read none of a body of unknown length; saying so beats a form that seems empty.
            return self._refuse(request, 411, _("Send the request with its Content-Length."))
        return self.get_response(request)

    def process_exception(self, request, exception):
        # The upload handler met more bytes than were declared.
        return self._too_large(request) if isinstance(exception, RequestTooLarge) else None

    def _too_large(self, request):
        limit = settings.MAX_REQUEST_BYTES / 1_048_576
        return self._refuse(
            request, 413, _("The request is larger than the %(limit).0f MB accepted.") % {"limit": limit}
        )

    @staticmethod
    def _refuse(request, status, message):
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": message}, status=status)
        if request.path.startswith(OPEN311_PREFIX):
            return open311_error(request, status, message)
        return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


OPEN311_PREFIX = "/open311/"


def open311_error(request, status, message) -> HttpResponse:
    """An Open311 client reads every error as GeoReport v2's list [{code, description}], in the format its
    path ends with (cases.open311 answers its own errors so; these are the ones refused before its views)."""
    if request.path.endswith(".xml"):
        body = (
            '<?xml version="1.0" encoding="utf-8"?>\n'
            f"<errors><error><code>{status}</code><description>{escape(str(message))}</description></error></errors>"
        )
        return HttpResponse(body, status=status, content_type="text/xml; charset=utf-8")
    return JsonResponse([{"code": status, "description": str(message)}], status=status, safe=False)
