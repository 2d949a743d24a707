"""Retry-safe API writes: the ``Idempotency-Key`` header on every POST of ``/api/v1/``.

A client that lost the answer to a POST (a dropped connection in the field) sends it again with
the same key. Within ``IDEMPOTENCY_TTL_HOURS`` the same key from the same client (the
authenticated user; an external system's service account) gets the first answer again, status
and body, and nothing is done twice; the same key with another request is 422. Keys are per
client, so two clients never see each other's answers.

How a race is settled: the key row is inserted first, in the same transaction as the work. A
second identical request arriving meanwhile blocks on the unique index until the first commits,
then finds its row and replays its answer; if the first failed and rolled back, the second does the
work. An answer raised as an error (a 400 from a service) rolls the claim back with everything
else, so a corrected retry may use the same key; an answer returned normally (2xx, or a 403/409
the view answers itself) is kept. Rows older than the window are deleted by a beat task.

Views apply ``idempotent`` to their ``post`` handler (``IdempotentPostMixin`` does it for a
generic view); gov_platform.api_schema documents the header and the 422 on every such operation.
"""

import functools
import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from .models import IdempotencyKey

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = IdempotencyKey._meta.get_field("key").max_length
REPLAYED_HEADER = "Idempotent-Replayed"


def ttl() -> timedelta:
    return timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS)


def _data_for_fingerprint(request):
    data = request.data
    if hasattr(data, "lists"):  # a form or multipart body: values and files by field, files by their content
        fields = {}
        for name, values in data.lists():
            fields[name] = [_file_digest(v) if hasattr(v, "chunks") else v for v in values]
        return fields
    return data


def _file_digest(upload) -> str:
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return f"file:{upload.name}:{digest.hexdigest()}"


def fingerprint(request) -> str:
    """The request as its meaning, not its bytes: the same JSON with keys reordered, or the same
    files under another multipart boundary, is the same request."""
    canonical = json.dumps(
        {
            "method": request.method,
            "path": request.path,
            "query": sorted(request.query_params.lists()),
            "data": _data_for_fingerprint(request),
        },
        cls=JSONEncoder,
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _key_of(request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable() or not key.isascii():
        raise ValidationError(
            {HEADER: [_("Send 1 to %(n)d printable ASCII characters, e.g. a UUID.") % {"n": MAX_KEY_LENGTH}]}
        )
    return key


def _claim(*, user, key: str, digest: str, request, now) -> tuple[bool, IdempotencyKey]:
    """Insert the key row (True), or lock and return the one already there (False).
    An expired row is taken over as if new."""
    values = {"fingerprint": digest, "method": request.method, "path": request.path[:255], "created_at": now}
    row = _insert_unless_there(user=user, key=key, **values)
    if row is not None:
        return True, row
    row = IdempotencyKey.objects.select_for_update().get(user=user, key=key)
    if row.created_at <= now - ttl():
        for name, value in {**values, "status_code": None, "response_body": None}.items():
            setattr(row, name, value)
        row.save()
        return True, row
    return False, row


def _insert_unless_there(*, user, key, **values) -> IdempotencyKey | None:
    """The new key row, or None when the client's key is there already: one ``INSERT … ON CONFLICT DO NOTHING``
    (PostgreSQL, SQLite), where a plain insert would need a savepoint to survive the duplicate. A racing
    insert of the same key waits for the first to commit or roll back, as on the unique index before."""
    row = IdempotencyKey(user=user, key=key, **values)
    fields = [f for f in IdempotencyKey._meta.concrete_fields if not f.primary_key]
    quote = connection.ops.quote_name
    table = quote(IdempotencyKey._meta.db_table)
    columns = ", ".join(quote(f.column) for f in fields)
    conflict = ", ".join(quote(IdempotencyKey._meta.get_field(name).column) for name in ("user", "key"))
    params = [f.get_db_prep_save(f.pre_save(row, add=True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))}) "  # noqa: S608 - our names
            f"ON CONFLICT ({conflict}) DO NOTHING RETURNING {quote(IdempotencyKey._meta.pk.column)}",
            params,
        )
        inserted = cursor.fetchone()
    if inserted is None:
        return None
    row.pk = inserted[0]
    row._state.adding = False
    row._state.db = connection.alias
    return row


def _store_answer(row: IdempotencyKey) -> None:
    """The row's answer written with one plain UPDATE: a save with update_fields built the same statement
    through the model's signals and the ORM's compiler, a twentieth of a report's time on intake."""
    fields = [IdempotencyKey._meta.get_field(name) for name in ("status_code", "response_body")]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    params = [f.get_db_prep_save(getattr(row, f.attname), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(IdempotencyKey._meta.db_table)} SET {assignments} "  # noqa: S608 - our names
            f"WHERE {quote(IdempotencyKey._meta.pk.column)} = %s",
            [*params, row.pk],
        )


def _replay(row: IdempotencyKey) -> Response:
    return Response(row.response_body, status=row.status_code, headers={REPLAYED_HEADER: "true"})


def idempotent(handler):
    """Make a view's ``post(self, request, ...)`` honour ``Idempotency-Key`` (see the module)."""

    @functools.wraps(handler)
    def wrapper(view, request, *args, **kwargs):
        key = _key_of(request)
        if key is None or not request.user.is_authenticated:
            return handler(view, request, *args, **kwargs)
        digest = fingerprint(request)
        with transaction.atomic():
            claimed, row = _claim(user=request.user, key=key, digest=digest, request=request, now=timezone.now())
            if not claimed:
                if row.fingerprint != digest:
                    return Response(
                        {
                            "detail": _(
                                "This Idempotency-Key was used for a different request; use a new key for a new request."
                            )
                        },
                        status=status.HTTP_422_UNPROCESSABLE_ENTITY,
                    )
                return _replay(row)
            response = handler(view, request, *args, **kwargs)
            row.status_code = response.status_code
            row.response_body = json.loads(json.dumps(getattr(response, "data", None), cls=JSONEncoder))
            _store_answer(row)
            return response

    wrapper.idempotent = True
    return wrapper


class IdempotentPostMixin:
    """For a generic view whose ``post`` comes from DRF (ListCreateAPIView): the same, on its ``post``."""

    @idempotent
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


def purge_expired(*, now=None) -> int:
    """Delete keys older than the window; returns how many went."""
    cutoff = (now or timezone.now()) - ttl()
    deleted, _per_model = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
