"""Pages of the privacy app (administrators)."""

from django.urls import URLPattern, URLResolver, path

from privacy import views

app_name = "privacy"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.index, name="index"),
    path("learners/<int:pk>/export/", views.learner_export, name="learner_export"),
    path("learners/<int:pk>/erase/", views.learner_erase, name="learner_erase"),
    path("access-log/", views.access_log, name="access_log"),
]
