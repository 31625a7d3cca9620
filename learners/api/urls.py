"""API routes of the learners app, mounted under /api/v1/."""

from django.urls import URLPattern, URLResolver
from rest_framework.routers import SimpleRouter

from learners.api import views

router = SimpleRouter()
router.register("organisations", views.OrganisationViewSet, basename="organisation")
router.register("terms", views.TermViewSet, basename="term")
router.register("sections", views.SectionViewSet, basename="section")
router.register("learners", views.LearnerViewSet, basename="learner")
router.register("roster-imports", views.RosterImportViewSet, basename="roster-import")

urlpatterns: list[URLPattern | URLResolver] = [*router.urls]
