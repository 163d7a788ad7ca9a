"""Django's admin on a site that lets the admin role in.

Members of the admin group manage clusters, report schedules and users without being
made staff or superusers by hand: the role is the permission (``access.AdminRoleBackend``).
"""

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig


class RoleAdminSite(AdminSite):
    site_header = "Netpol Auditor administration"
    site_title = "Netpol Auditor"

    def has_permission(self, request):
        from .access import role_of  # not at import: this module loads before the models

        user = request.user
        return user.is_active and (user.is_staff or role_of(user) == "admin")


class RoleAdminConfig(AdminConfig):
    default_site = "auditor.adminsite.RoleAdminSite"
