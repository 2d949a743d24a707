"""``/open311/v2/``: GeoReport v2, every resource in .json and .xml."""

from django.urls import path, register_converter

from . import views


class FormatConverter:
    regex = "json|xml"

    def to_python(self, value):
        return value

    def to_url(self, value):
        return value


register_converter(FormatConverter, "open311_format")

app_name = "open311"

urlpatterns = [
    path("discovery.<open311_format:response_format>", views.DiscoveryView.as_view(), name="discovery"),
    path("services.<open311_format:response_format>", views.ServiceListView.as_view(), name="services"),
    path(
        "services/<str:service_code>.<open311_format:response_format>",
        views.ServiceDefinitionView.as_view(),
        name="service",
    ),
    path("requests.<open311_format:response_format>", views.ServiceRequestListView.as_view(), name="requests"),
    path(
        "requests/<str:service_request_id>.<open311_format:response_format>",
        views.ServiceRequestView.as_view(),
        name="request",
    ),
    path("tokens/<str:token>.<open311_format:response_format>", views.TokenView.as_view(), name="token"),
]
