"""API routes of the mastery app, mounted under /api/v1/."""

from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from mastery.api import views

router = SimpleRouter()
router.register("mastery/records", views.MasteryRecordViewSet, basename="mastery-record")
router.register("mastery/events", views.MasteryEventViewSet, basename="mastery-event")
router.register("mastery/bulk-recomputes", views.BulkRecomputeViewSet, basename="bulk-recompute")
router.register("mastery/overrides", views.MasteryOverrideViewSet, basename="mastery-override")

urlpatterns: list[URLPattern | URLResolver] = [
    path("mastery/as-of/", views.MasteryAsOfView.as_view(), name="mastery-as-of"),
    *router.urls,
]
