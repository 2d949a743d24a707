"""Logging in to the REST API and telling the client who it is."""

from axes.helpers import get_lockout_message
from django.contrib.auth.signals import user_logged_in
from django.db.models import Prefetch
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from grids.api import AreaRefSerializer, DepartmentRefSerializer

from . import services, twofactor
from .models import Post, User


def display_name(user):
    """How a person is named to other users: the real name, else the username."""
    if user is None:
        return None
    return user.get_full_name() or user.get_username()


class TokenLoginSerializer(AuthTokenSerializer):
    otp_code = serializers.CharField(
        label=_("Two-factor code"),
        required=False,
        allow_blank=True,
        write_only=True,
        help_text=_("The authenticator app's code or a recovery code, for users with two-factor login."),
    )


class TokenInfoSerializer(serializers.Serializer):
    created = serializers.DateTimeField(read_only=True)
    expires = serializers.DateTimeField(read_only=True)


class TokenView(ObtainAuthToken):
    serializer_class = TokenLoginSerializer
    # DRF switches throttling off for this view; a password endpoint is the last one to leave unthrottled.
    throttle_classes = APIView.throttle_classes
    # GET and DELETE concern the caller's own token, so they need a login; POST is the login.
    permission_classes = APIView.permission_classes

    def get_permissions(self):
        return [] if self.request.method == "POST" else super().get_permissions()

    def get_authenticators(self):
        # Logging in again with an expired token still in the header must not be refused for it.
        # (Schema generation asks without a request.)
        logging_in = self.request is not None and self.request.method == "POST"
        return [] if logging_in else super().get_authenticators()

    @extend_schema(
        summary=_("Obtain an API token"),
        description=_(
            "A token stops working API_TOKEN_TTL_HOURS after it was issued; asking again then gives a new one. "
            "Users with two-factor login add otp_code."
        ),
        tags=["auth"],
        request=TokenLoginSerializer,
        responses={
            200: inline_serializer("AuthTokenResponse", {"token": serializers.CharField()}),
            400: OpenApiResponse(description=_("Wrong username, password or two-factor code.")),
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
        if twofactor.needs_second_factor(user):
            # Otherwise the API would open with the password alone what the admin guards with a code.
            if not twofactor.has_device(user):
                raise ValidationError({"otp_code": [_("Set up two-factor login in the back office first.")]})
            try:
                services.verify_second_factor(user=user, code=serializer.validated_data.get("otp_code") or "")
            except services.SecondFactorRefused as refused:
                raise ValidationError({"otp_code": [refused.message]}) from None
        # Obtaining a token is a login: axes clears the failure count (AXES_RESET_ON_SUCCESS), last_login is kept.
        user_logged_in.send(sender=user.__class__, request=request, user=user)
        token = services.issue_token(user=user)
        return Response({"token": token.key})

    @extend_schema(
        summary=_("When my API token was issued and when it expires"),
        tags=["auth"],
        responses={200: TokenInfoSerializer, 404: OpenApiResponse(description=_("You have no API token."))},
    )
    def get(self, request, *args, **kwargs):
        token = getattr(request.user, "auth_token", None)
        if token is None:
            return Response({"detail": _("You have no API token.")}, status=status.HTTP_404_NOT_FOUND)
        return Response(
            TokenInfoSerializer({"created": token.created, "expires": services.token_expires_at(token)}).data
        )

    @extend_schema(
        summary=_("Revoke my API token"),
        tags=["auth"],
        request=None,
        responses={204: OpenApiResponse(description=_("The token no longer works."))},
    )
    def delete(self, request, *args, **kwargs):
        services.revoke_token(actor=request.user, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


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
