"""Pages of the badges app."""

from django.urls import URLPattern, URLResolver, path

from badges import views

app_name = "badges"
urlpatterns: list[URLPattern | URLResolver] = [
    path("learners/<int:learner_pk>/", views.learner_credentials, name="learner_credentials"),
    path(
        "learners/<int:learner_pk>/standards/<int:standard_pk>.jwt",
        views.download_credential,
        name="download",
    ),
    path("issuers/<int:organisation_pk>/", views.issuer, name="issuer"),
]
