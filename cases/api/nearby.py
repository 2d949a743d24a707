"""``GET cases/nearby/``: open cases of a category near a point, in the user's scope, nearest first."""

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from ..models import Case, Category
from ..nearby import nearby_open_cases


class NearbyQuerySerializer(serializers.Serializer):
    lat = serializers.FloatField(min_value=-90, max_value=90, help_text=_("Latitude of the point."))
    lng = serializers.FloatField(min_value=-180, max_value=180, help_text=_("Longitude of the point."))
    category = serializers.PrimaryKeyRelatedField(
        queryset=Category.objects.filter(parent__isnull=False), help_text=_("Id of a leaf of the responsibility list.")
    )


class NearbyCaseSerializer(serializers.ModelSerializer):
    category = serializers.CharField(source="category.name")
    status_label = serializers.CharField(source="get_status_display")
    distance = serializers.IntegerField(help_text=_("Metres from the point."))

    class Meta:
        model = Case
        fields = ["id", "number", "title", "category", "status", "status_label", "address", "reported_at", "distance"]
        read_only_fields = fields


class NearbyCasesView(APIView):
    @extend_schema(
        summary=_("Open cases near a point"),
        description=_(
            "Open cases of the category within NEARBY_CASE_METRES of the point, reported in the last "
            "NEARBY_CASE_DAYS days, that you see; nearest first. Offer them before reporting the same problem again."
        ),
        tags=["cases"],
        parameters=[
            OpenApiParameter("lat", float, required=True),
            OpenApiParameter("lng", float, required=True),
            OpenApiParameter("category", int, required=True),
        ],
        responses={
            200: inline_serializer(
                "NearbyCases",
                {
                    "metres": serializers.IntegerField(),
                    "days": serializers.IntegerField(),
                    "results": NearbyCaseSerializer(many=True),
                },
            )
        },
    )
    def get(self, request):
        query = NearbyQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        cases = nearby_open_cases(
            user=request.user, category=data["category"], latitude=data["lat"], longitude=data["lng"]
        )
        return Response(
            {
                "metres": settings.NEARBY_CASE_METRES,
                "days": settings.NEARBY_CASE_DAYS,
                "results": NearbyCaseSerializer(cases, many=True).data,
            }
        )
