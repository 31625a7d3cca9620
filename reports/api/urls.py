"""API routes of the reports app, mounted under /api/v1/."""

from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from reports.api import views

app_name = "reports-api"
router = SimpleRouter()
router.register("reports", views.ReportRequestViewSet, basename="report")

urlpatterns: list[URLPattern | URLResolver] = [
    path("reports/download/<str:token>/", views.ReportDownloadView.as_view(), name="download"),
    *router.urls,
]
