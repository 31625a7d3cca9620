"""API routes of the moderation app, mounted under /api/v1/."""

from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from moderation.api import views

router = SimpleRouter()
router.register("moderation/rounds", views.RoundViewSet, basename="moderation-round")
router.register("moderation/reviews", views.ReviewViewSet, basename="moderation-review")
router.register("moderation/tasks", views.TaskViewSet, basename="common-task")

urlpatterns: list[URLPattern | URLResolver] = [
    path(
        "moderation/reviews/<int:pk>/files/<int:number>/",
        views.ReviewFileView.as_view(),
        name="moderation-review-file",
    ),
    path("moderation/agreement/", views.MyAgreementView.as_view(), name="moderation-agreement"),
    path(
        "moderation/demographics/",
        views.DemographicsView.as_view(),
        name="moderation-demographics",
    ),
    *router.urls,
]
