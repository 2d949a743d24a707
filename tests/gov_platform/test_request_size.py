"""Request size is limited in the application: a body over MAX_REQUEST_BYTES is refused with 413
from its declared length before a byte of it is read; one without a length gets 411; the upload
handler stops a multipart body at the limit."""

import io

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.test import RequestFactory
from django.test.client import BOUNDARY

from gov_platform.uploads import RequestTooLarge

FIFTY_MB = 50 * 1024 * 1024


class CountingBody(io.RawIOBase):
    """A request body of ``size`` bytes made on demand, counting how many were read."""

    def __init__(self, size):
        self.size, self.read_bytes = size, 0

    def readable(self):
        return True

    def readinto(self, buffer):
        n = min(len(buffer), self.size - self.read_bytes)
        buffer[:n] = b"\0" * n
        self.read_bytes += n
        return n


def call_wsgi(path, *, body, headers):
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "wsgi.input": body,
        "wsgi.errors": io.StringIO(),
        "CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}",
        **headers,
    }
    result = {}

    def start_response(status, response_headers, exc_info=None):
        result["status"] = int(status.split()[0])

    content = b"".join(WSGIHandler()(environ, start_response))
    return result["status"], content


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/api/v1/cases/", "/admin/cases/case/add/", "/report/"])
def test_fifty_mb_declared_is_refused_before_reading(path):
    body = CountingBody(FIFTY_MB)
    status, content = call_wsgi(path, body=body, headers={"CONTENT_LENGTH": str(FIFTY_MB)})
    assert status == 413
    assert body.read_bytes == 0
    assert b"MB" in content


@pytest.mark.django_db(transaction=True)
def test_a_body_without_its_length_is_refused():
    body = CountingBody(FIFTY_MB)
    status, _content = call_wsgi("/api/v1/cases/", body=body, headers={"HTTP_TRANSFER_ENCODING": "chunked"})
    assert status == 411 and body.read_bytes == 0


@pytest.mark.django_db
def test_a_real_fifty_mb_post_is_refused_unread(client, settings):
    response = client.post("/report/", data=b"x" * FIFTY_MB, content_type="application/octet-stream")
    assert response.status_code == 413
    assert not response.wsgi_request._read_started


@pytest.mark.django_db
def test_the_limit_follows_the_setting(client, settings):
    settings.MAX_REQUEST_BYTES = 1000
    assert client.post("/admin/login/", {"username": "u", "password": "p" * 2000}).status_code == 413
    assert client.post("/admin/login/", {"username": "u", "password": "p"}).status_code == 200  # the form again


def test_upload_handler_stops_parsing_at_the_limit(settings):
    settings.MAX_REQUEST_BYTES = 100_000
    photo = io.BytesIO(b"\xff" * 1_000_000)
    photo.name = "big.jpg"
    request = RequestFactory().post("/api/v1/cases/", data={"photos": photo})
    with pytest.raises(RequestTooLarge):
        request.FILES  # noqa: B018 - parsing is what is tested
    # Parsing stopped near the limit (one read chunk past it), not at the end of the megabyte.
    assert request._stream._pos < 100_000 + 2 * 64 * 1024


def test_defaults():
    from django.conf import settings

    assert settings.MAX_REQUEST_BYTES >= settings.CASE_PHOTOS_PER_UPLOAD * settings.CASE_PHOTO_MAX_BYTES
    assert settings.MAX_REQUEST_BYTES < FIFTY_MB
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE <= 2_621_440 and settings.FILE_UPLOAD_MAX_MEMORY_SIZE <= 2_621_440
    assert settings.FILE_UPLOAD_HANDLERS[0] == "gov_platform.uploads.RequestSizeLimitHandler"
