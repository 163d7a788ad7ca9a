"""Roles and the small helpers views use to check them.

Three roles, as Django groups: *viewer* reads; *auditor* also triggers snapshots,
manages waivers and runs what-if; *admin* (the group, or a superuser) also manages
clusters and users. A logged-in user in no group has no access.
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.backends import BaseBackend
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

ROLES = ("viewer", "auditor", "admin")
RANK = {role: i for i, role in enumerate(ROLES)}


def role_of(user) -> str | None:
    if not user.is_authenticated or not user.is_active:
        return None
    if user.is_superuser:
        return "admin"
    cached = getattr(user, "_netpol_role", False)
    if cached is not False:
        return cached
    names = set(user.groups.values_list("name", flat=True))
    role = next((r for r in reversed(ROLES) if r in names), None)
    user._netpol_role = role
    return role


def has_role(user, role: str) -> bool:
    mine = role_of(user)
    return mine is not None and RANK[mine] >= RANK[role]


def require_role(role: str):
    """Login first, then the role; a missing role is a 403 page that says which is needed."""

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not has_role(request.user, role):
                raise PermissionDenied(f"This needs the {role} role. Ask an admin to add you to the '{role}' group.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


# --- The admin role in Django's admin -------------------------------------------------
# Members of the admin group manage clusters, schedules and users without being made
# superusers or staff by hand: the role is the permission.


class AdminRoleBackend(BaseBackend):
    """Every model permission for users with the admin role (authentication is left to
    the other backends)."""

    def has_perm(self, user_obj, perm, obj=None):
        return role_of(user_obj) == "admin"

    def has_module_perms(self, user_obj, app_label):
        return role_of(user_obj) == "admin"

