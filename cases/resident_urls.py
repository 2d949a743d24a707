"""The public resident pages: /report/, /track/<code>/, /rate/<token>/."""

from django.urls import path

from . import residents

app_name = "residents"

urlpatterns = [
    path("report/", residents.report, name="report"),
    path("track/", residents.track_lookup, name="track_lookup"),
    path("track/<str:code>/", residents.track, name="track"),
    path("rate/<str:token>/", residents.rate, name="rate"),
]
