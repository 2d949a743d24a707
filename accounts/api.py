"""Logging in to the REST API and telling the client who it is."""

from axes.helpers import get_lockout_message
from django.contrib.auth.signals import user_logged_in
from django.db.models import Prefetch
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from grids.api import AreaRefSerializer, DepartmentRefSerializer

from .models import Post, User


def display_name(user):
    """How a person is named to other users: the real name, else the username."""
    if user is None:
        return None
    return user.get_full_name() or user.get_username()


class TokenView(ObtainAuthToken):
    # DRF switches throttling off for this view; a password endpoint is the last one to leave unthrottled.
    throttle_classes = APIView.throttle_classes

    @extend_schema(
        summary=_("Obtain an API token"),
        tags=["auth"],
        request=AuthTokenSerializer,
        responses={
            200: inline_serializer("AuthTokenResponse", {"token": serializers.CharField()}),
            400: OpenApiResponse(description=_("Wrong username or password.")),
            429: OpenApiResponse(description=_("Too many failed logins or requests; try later.")),
        },
        auth=[],
    )
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        try:
            serializer.is_valid(raise_exception=True)
        except ValidationError:
            # django-axes flags the DRF request it was given, which its middleware never sees.
            if getattr(request, "axes_locked_out", False):
                return Response({"detail": get_lockout_message()}, status=status.HTTP_429_TOO_MANY_REQUESTS)
            raise
        user = serializer.validated_data["user"]
        # Obtaining a token is a login: axes clears the failure count (AXES_RESET_ON_SUCCESS), last_login is kept.
        user_logged_in.send(sender=user.__class__, request=request, user=user)
        token, _created = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


class PostSerializer(serializers.ModelSerializer):
    role_display = serializers.CharField(source="get_role_display", read_only=True)
    # A post is in an area or in a department, never both: the other one is null.
    area = AreaRefSerializer(read_only=True, allow_null=True)
    department = DepartmentRefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Post
        fields = ["id", "role", "role_display", "area", "department", "is_supervisor", "is_full_time", "title"]
        read_only_fields = fields


class MeSerializer(serializers.ModelSerializer):
    display_name = serializers.SerializerMethodField()
    posts = PostSerializer(many=True, read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "real_name", "display_name", "is_superuser", "posts"]
        read_only_fields = fields

    def get_display_name(self, user) -> str:
        return display_name(user)


class MeView(APIView):
    @extend_schema(summary=_("The logged-in user and their posts"), tags=["auth"], responses=MeSerializer)
    def get(self, request):
        posts = Post.objects.select_related("area", "department").order_by("pk")
        user = User.objects.prefetch_related(Prefetch("posts", queryset=posts)).get(pk=request.user.pk)
        return Response(MeSerializer(user).data)
