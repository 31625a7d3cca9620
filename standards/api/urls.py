"""API routes of the standards app, mounted under /api/v1/."""

from django.urls import URLPattern, URLResolver
from rest_framework.routers import SimpleRouter

from standards.api import views

router = SimpleRouter()
router.register("frameworks", views.FrameworkViewSet, basename="framework")
router.register("standards", views.StandardViewSet, basename="standard")
router.register("scales", views.ScaleViewSet, basename="scale")
router.register("policies", views.PolicyViewSet, basename="policy")
router.register("requirements", views.RequirementViewSet, basename="requirement")
router.register("elective-groups", views.ElectiveGroupViewSet, basename="elective-group")
router.register("elective-choices", views.ElectiveChoiceViewSet, basename="elective-choice")

urlpatterns: list[URLPattern | URLResolver] = [*router.urls]
