"""API routes of the evidence app, mounted under /api/v1/."""

from django.urls import URLPattern, URLResolver
from rest_framework.routers import SimpleRouter

from evidence.api import views

router = SimpleRouter()
router.register("evidence", views.EvidenceViewSet, basename="evidence")
router.register("submissions", views.SubmissionViewSet, basename="submission")
router.register("ratings", views.RatingViewSet, basename="rating")
router.register("artifacts", views.ArtifactViewSet, basename="artifact")

urlpatterns: list[URLPattern | URLResolver] = [*router.urls]
