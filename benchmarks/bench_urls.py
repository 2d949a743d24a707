"""The project's URLs plus bare DRF views over the same table: the yardsticks for the platform's overhead.

``bare/cases/new/`` is a CreateAPIView inserting the row a report makes (title, description, category, grid and
its area path, reporter, priority, time) with none of the platform's rules, clock, number, history, notifications
or Idempotency-Key: the floor under ``POST /api/v1/cases/`` (benchmarks/intake.py).
"""

from django.utils import timezone
from rest_framework import generics, serializers
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import IsAuthenticated

from cases.models import Case
from gov_platform.urls import urlpatterns as project_urls
from grids.models import Area


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


class BareCaseCreateSerializer(serializers.ModelSerializer):
    grid = serializers.SlugRelatedField(slug_field="code", queryset=Area.objects.all())

    class Meta:
        model = Case
        fields = ["id", "title", "description", "category", "grid", "source", "priority", "reported_at"]
        read_only_fields = ["source", "priority", "reported_at"]


class BareCaseCreate(generics.CreateAPIView):
    serializer_class = BareCaseCreateSerializer
    permission_classes = [IsAuthenticated]

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.save(
            area_path=data["grid"].path,
            reporter=self.request.user,
            priority=data["category"].priority,
            reported_at=timezone.now(),
        )


from django.urls import path  # noqa: E402

urlpatterns = [
    path("bare/cases/", BareCaseList.as_view()),
    path("bare/cases/new/", BareCaseCreate.as_view()),
    *project_urls,
]
