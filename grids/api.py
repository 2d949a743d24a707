"""The organisation in the REST API: the areas a user sees, for pickers and filters on the mobile client."""

from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers

from .models import Area, Department, Tier


class AreaRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Area
        fields = ["id", "code", "name", "tier"]
        read_only_fields = fields


class DepartmentRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Department
        fields = ["id", "code", "name"]
        read_only_fields = fields


class AreaSerializer(serializers.ModelSerializer):
    parent = serializers.SlugRelatedField(
        slug_field="code",
        read_only=True,
        allow_null=True,
        help_text=_("Code of the parent area; null for the district."),
    )

    class Meta:
        model = Area
        fields = ["id", "code", "name", "tier", "parent", "path", "depth", "population", "households"]
        read_only_fields = fields


class AreaFilter(filters.FilterSet):
    tier = filters.ChoiceFilter(choices=Tier.choices)
    parent = filters.CharFilter(field_name="parent__code", help_text=_("Code of the parent area: its children."))

    class Meta:
        model = Area
        fields = ["tier", "parent"]


@extend_schema(summary=_("Areas you see"), tags=["organisation"])
class AreaListView(generics.ListAPIView):
    serializer_class = AreaSerializer
    filter_backends = [filters.DjangoFilterBackend]
    filterset_class = AreaFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Area.objects.none()
        return self.request.user.scope.areas(Area.objects.select_related("parent").order_by("path"))
