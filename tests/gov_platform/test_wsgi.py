"""The WSGI entry point: Django's application, the long-lived objects moved out of the collector's generations
once loaded and after the first request."""

import gc
import io

import pytest


@pytest.fixture
def unfrozen():
    yield
    gc.unfreeze()


@pytest.mark.django_db(transaction=True)
def test_serves_and_freezes_after_the_first_request(unfrozen):
    from gov_platform.wsgi import application

    gc.unfreeze()
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/admin/login/",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": io.StringIO(),
    }
    statuses = []
    for _ in range(2):
        warm = application.warm
        content = b"".join(application(environ, lambda status, headers, exc_info=None: statuses.append(status)))
        assert b"<form" in content
        if not warm:
            assert gc.get_freeze_count() > 0
    assert statuses == ["200 OK", "200 OK"] and application.warm
