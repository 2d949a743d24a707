"""The public resident pages: /report/, /track/<code>/, /rate/<token>/."""

from django.urls import path

from . import views

app_name = "residents"

urlpatterns = [
    path("report/", views.report, name="report"),
    path("report/map.geojson", views.report_map, name="report_map"),
    path("report/follow/", views.follow, name="follow"),
    path("report/photo/<str:key>/", views.report_photo, name="report_photo"),
    path("track/", views.track_lookup, name="track_lookup"),
    path("track/<str:code>/", views.track, name="track"),
    path("rate/<str:token>/", views.rate, name="rate"),
]
