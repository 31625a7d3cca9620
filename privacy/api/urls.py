"""API routes of the privacy app, mounted under /api/v1/."""

from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from privacy.api import views

router = SimpleRouter()
router.register("privacy/access-log", views.AccessLogViewSet, basename="privacy-access-log")

urlpatterns: list[URLPattern | URLResolver] = [
    path(
        "privacy/learners/<int:pk>/export/",
        views.LearnerExportView.as_view(),
        name="privacy-learner-export",
    ),
    path(
        "privacy/learners/<int:pk>/erase/",
        views.LearnerEraseView.as_view(),
        name="privacy-learner-erase",
    ),
    *router.urls,
]
