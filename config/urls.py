"""URL routes: pages per app, the API under /api/v1/, auth, admin and /healthz."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from common import views as common_views
from common.api_docs import ApiDocsView
from identity import views as identity_views
from identity.forms import PasswordResetForm

# Clean failures (common/failures.py): a lost database is a 503 with Retry-After, bad input a 400
# in plain words; JSON on the API.
handler400 = "common.failures.bad_request"
handler500 = "common.failures.server_error"

APPS = ("learners", "standards", "evidence", "mastery", "reports", "privacy", "moderation")

api_patterns = [path("", include(f"{app}.api.urls")) for app in APPS]

urlpatterns = [
    path("", common_views.home, name="home"),
    path("healthz", common_views.healthz, name="healthz"),
    path("accounts/login/", identity_views.SignInView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/change/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password/change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path(
        "accounts/password/reset/",
        auth_views.PasswordResetView.as_view(form_class=PasswordResetForm),
        name="password_reset",
    ),
    path(
        "accounts/password/reset/done/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "accounts/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("", include("identity.urls")),
    path("badges/", include("badges.urls")),
    path("portal/", include("portal.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_patterns)),
    path("ims/case/v1p1/", include("standards.case_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", ApiDocsView.as_view(url_name="schema"), name="api-docs"),
    *[path(f"{app}/", include(f"{app}.urls")) for app in APPS],
]
