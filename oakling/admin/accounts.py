"""The auth battery's models in the admin: users, groups and API tokens.

Django's ``django.contrib.auth.admin``: :class:`UserAdmin` adds users with
two password fields (validated by the auth battery's validators, then
hashed with argon2id), never shows a hash, and has its own password-change
page; :class:`GroupAdmin` edits a group's permissions; :class:`APITokenAdmin`
lists, renames and revokes tokens (a token's secret exists only when it is
made, so tokens are not added here).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from oakling.auth.hashers import is_password_usable
from oakling.auth.models import APIToken, Group, Permission, User
from oakling.auth.services import UsernameTaken, create_user_sync
from oakling.auth.usernames import InvalidUsername
from oakling.auth.validators import PasswordValidationError

from .forms import FormField, UserChangeForm, UserCreationForm
from .options import FormInvalid, ModelAdmin

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from oakling.requests import Request

    from .sites import Admin

__all__ = ["APITokenAdmin", "GroupAdmin", "UserAdmin", "register_auth_models"]

_USER_CHANGE_SPECS = {
    "username": FormField("username", "column", str, None, False),
    "email": FormField("email", "column", str, None, False),
    "is_active": FormField("is_active", "column", bool, None, False),
    "is_staff": FormField("is_staff", "column", bool, None, False),
    "is_superuser": FormField("is_superuser", "column", bool, None, False),
    "groups": FormField("groups", "m2m", int, Group),
    "user_permissions": FormField("user_permissions", "m2m", int, Permission),
}


class UserAdmin(ModelAdmin):
    """The ``User`` model: hashed passwords, a password-change page, no hash shown."""

    list_display = ("username", "email", "is_staff", "is_superuser", "is_active")
    search_fields = ("^username", "email")
    list_filter = ("is_staff", "is_superuser", "is_active")
    ordering = ("username",)

    def object_repr(self, obj: Any) -> str:
        """Return the username (``User`` has only a debugging ``repr``)."""
        return str(obj.username)

    readonly_fields = ("password_status", "date_joined", "last_login")
    has_password_page = True

    def password_status(self, obj: User) -> str:
        """Say whether a password is set, never showing its hash."""
        if not obj.password or not is_password_usable(obj.password):
            return "No password set."
        algorithm = obj.password.split("$", 1)[0]
        return f"Set ({algorithm}); the raw password is not stored."

    password_status.short_description = "Password"  # type: ignore[attr-defined]  # NOTE: a label

    def get_form(self, request: Request, obj: Any = None) -> tuple[type[Any], dict[str, Any]]:
        """Return the creation form (add) or the change form without the password."""
        if obj is None:
            return UserCreationForm, {}
        return UserChangeForm, _USER_CHANGE_SPECS

    def construct(
        self, request: Request, session: Session, form: Any, specs: dict[str, Any], obj: Any
    ) -> tuple[Any, list[str]]:
        """Create the user through the auth battery (validated, hashed), or change one.

        Raises:
            FormInvalid: For a taken or invalid username, or a refused password.
        """
        if obj is not None:
            try:
                return super().construct(request, session, form, specs, obj)
            except FormInvalid as ex:
                if ex.message and not ex.errors:
                    raise FormInvalid({"username": ex.message}) from ex
                raise
        try:
            user = create_user_sync(
                session,
                form.username.data,
                form.password1.data,
                email=form.email.data or "",
                is_staff=bool(form.is_staff.data),
                is_superuser=bool(form.is_superuser.data),
            )
        except (InvalidUsername, UsernameTaken) as ex:
            raise FormInvalid({"username": str(ex)}) from ex
        except PasswordValidationError as ex:
            raise FormInvalid({"password2": " ".join(ex.messages)}) from ex
        user.is_active = bool(form.is_active.data)
        return user, []


class GroupAdmin(ModelAdmin):
    """The ``Group`` model: a name and its permissions."""

    list_display = ("name",)
    search_fields = ("name",)
    ordering = ("name",)
    fields = ("name", "permissions")

    def object_repr(self, obj: Any) -> str:
        """Return the group's name."""
        return str(obj.name)


class APITokenAdmin(ModelAdmin):
    """API tokens: list, rename, change scopes or expiry, revoke (delete)."""

    list_display = ("prefix", "name", "user__username", "scopes", "created_at", "expires_at")
    search_fields = ("=prefix", "name", "^user__username")
    fields = ("name", "scopes", "expires_at")
    readonly_fields = ("prefix", "user", "created_at", "last_used_at")
    verbose_name = "API token"

    def object_repr(self, obj: Any) -> str:
        """Return the token's name and prefix (never its secret)."""
        return f"{obj.name} ({obj.prefix}…)" if obj.name else f"{obj.prefix}…"

    def has_add_permission(self, request: Request) -> bool:
        """Return False: a token is made where its secret can be shown once."""
        return False


def register_auth_models(site: Admin) -> None:
    """Register User, Group and APIToken on ``site`` unless they already are."""
    for model, admin_class in (
        (User, UserAdmin),
        (Group, GroupAdmin),
        (APIToken, APITokenAdmin),
    ):
        if not site.is_registered(model):
            site.register(model, admin_class)
