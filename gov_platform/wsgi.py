"""WSGI entry point (gunicorn)."""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gov_platform.settings")

_django = get_wsgi_application()


class _FreezeAfterWarmUp:
    """Django and the apps' modules, models, URL patterns, compiled templates and catalogues live as long as
    the worker: the cyclic garbage collector need not scan them again and again. They are moved out of its
    generations (gc.freeze) once loaded, and once more after the first request, which loads what Django loads
    lazily. The oldest generation's collections had taken ~10 % of an admin list's worker time (4-6 ms a page
    at a million cases); garbage made by requests is collected as before."""

    def __init__(self, app):
        self.app = app
        self.warm = False
        gc.freeze()

    def __call__(self, environ, start_response):
        response = self.app(environ, start_response)
        if not self.warm:
            self.warm = True
            gc.collect()
            gc.freeze()
        return response


application = _FreezeAfterWarmUp(_django)
