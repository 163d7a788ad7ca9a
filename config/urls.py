from django.contrib import admin
from django.urls import include, path

from auditor import sso

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", sso.LoginWithSSOView.as_view(), name="login"),  # with the SSO button
    path("accounts/logout/", sso.SSOLogoutView.as_view(), name="logout"),  # ends the provider's session too
    # Single sign-on (OpenID Connect); both answer 404 while OIDC_ISSUER is unset.
    path("accounts/sso/login/", sso.SSOLoginView.as_view(), name="sso_login"),
    path("accounts/sso/callback/", sso.SSOCallbackView.as_view(), name="sso_callback"),
    path("", include("auditor.api.urls")),  # /api/v1/…, /metrics, /account/api-tokens/
    path("", include("webui.urls")),
]

handler400 = "webui.views.errors.bad_request"
