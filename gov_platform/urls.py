"""The URL configuration: the admin, the API, the resident pages, the public figures and health."""

from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.language import switch_language
from cases import maps as case_maps
from metrics import maps as metric_maps
from metrics import views as metrics
from metrics.prometheus import metrics_view

from .health import healthz

admin.site.site_header = _("Grid governance platform")
admin.site.site_title = _("Grid governance platform")
admin.site.index_title = _("Workbench")

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("healthz/", healthz, name="healthz"),
    path("metrics", metrics_view, name="prometheus-metrics"),
    path("i18n/", include("django.conf.urls.i18n")),
    # The back office's language switch: saved on the user, not only in a cookie.
    path("admin/language/", switch_language, name="switch-language"),
    # The admin index with the user's figures; before admin.site.urls so it answers /admin/.
    path("admin/", admin.site.admin_view(metrics.admin_index), name="admin-dashboard"),
    # The officials' case map (cases/maps.py): the page, and its GeoJSON for the user's scope with the
    # safety index and the hotspots (metrics/maps.py).
    path("admin/map/", admin.site.admin_view(case_maps.map_page), name="admin-map"),
    path("admin/map/data.geojson", admin.site.admin_view(metric_maps.map_data), name="admin-map-data"),
    path("admin/", admin.site.urls),
    path("public/", metrics.public_page, name="public"),
    path("api/v1/", include("gov_platform.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script under the CSP.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    # Open311 GeoReport v2 (cases/open311): public services and requests, requests filed by external systems.
    path("open311/v2/", include("cases.open311.urls")),
    # Resident pages (no account): self-report, tracking, rating links.
    path("", include("cases.residents.urls")),
]

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
