"""The project's URLs plus a bare DRF ListAPIView over the same table: the yardstick for the platform's overhead."""

from rest_framework import generics, serializers
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import IsAuthenticated

from cases.models import Case
from gov_platform.urls import urlpatterns as project_urls


class BareCaseSerializer(serializers.ModelSerializer):
    class Meta:
        model = Case
        fields = [
            "id",
            "number",
            "title",
            "status",
            "category",
            "grid",
            "address",
            "source",
            "priority",
            "reported_at",
            "current_deadline",
            "rework_count",
        ]


class BarePagination(CursorPagination):
    ordering = "-id"
    page_size = 50


class BareCaseList(generics.ListAPIView):
    queryset = Case.objects.all()
    serializer_class = BareCaseSerializer
    pagination_class = BarePagination
    permission_classes = [IsAuthenticated]


from django.urls import path  # noqa: E402

urlpatterns = [path("bare/cases/", BareCaseList.as_view()), *project_urls]
