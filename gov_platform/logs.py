"""Logs an operator can follow: every request gets an id (the caller's X-Request-ID when it is a sane
one, else a new one), echoed in the response, stamped on every log record written while it is
answered, and carried into the Celery tasks it queued (a message header set when the task is
published, read back when the worker starts it). With LOG_FORMAT=json each record is one JSON
object per line; plain text stays the demo's default."""

import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

HEADER = "X-Request-ID"
# The Celery message header carrying the id of the request that queued the task.
TASK_HEADER = "gov_request_id"
# A caller's id is kept only when it is short and plain: it lands in every log line.
SANE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def new_id() -> str:
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """First in the stack, so every other middleware's records carry the id too."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.headers.get(HEADER, "")
        rid = given if SANE.match(given) else new_id()
        request.request_id = rid
        token = request_id.set(rid)
        try:
            response = self.get_response(request)
        finally:
            request_id.reset(token)
        response[HEADER] = rid
        return response


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (None outside a request or task) to every record, for either format."""

    def filter(self, record):
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request_id, and the
    exception and any ``extra`` fields the call passed."""

    _plain = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}

    def format(self, record):
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for key, value in vars(record).items():
            if key not in self._plain and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool | type(None)) else repr(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


# --- Celery: the id travels in the task message ---------------------------------------
def stamp_task(headers=None, **kwargs):
    """before_task_publish: the publishing request's id rides in the message's headers."""
    rid = request_id.get()
    if rid and headers is not None:
        headers.setdefault(TASK_HEADER, rid)


def task_started(task=None, **kwargs):
    """task_prerun: the worker logs the task under the id of the request that queued it (a fresh one
    for tasks beat queued), until task_postrun."""
    rid = getattr(getattr(task, "request", None), TASK_HEADER, None)
    token = request_id.set(rid if isinstance(rid, str) and SANE.match(rid) else new_id())
    if task is not None:
        task._gov_request_token = token


def task_finished(task=None, **kwargs):
    token = getattr(task, "_gov_request_token", None)
    if token is not None:
        request_id.reset(token)
        task._gov_request_token = None


def connect_celery_signals():
    from celery.signals import before_task_publish, task_postrun, task_prerun

    before_task_publish.connect(stamp_task, weak=False, dispatch_uid="gov_request_id_publish")
    task_prerun.connect(task_started, weak=False, dispatch_uid="gov_request_id_prerun")
    task_postrun.connect(task_finished, weak=False, dispatch_uid="gov_request_id_postrun")
