"""Routes of the identity app, mounted at the site root (the key set lives at a well-known path)."""

from django.urls import path

from identity import views

app_name = "identity"

urlpatterns = [
    path(".well-known/jwks.json", views.jwks, name="jwks"),
    path("identity/sso/<int:provider_id>/", views.sso_start, name="sso_start"),
    path("identity/sso/callback/", views.sso_callback, name="sso_callback"),
    path("identity/refused/<slug:reason>/", views.refused, name="refused"),
    path("identity/lti/login/", views.lti_login, name="lti_login"),
    path("identity/lti/launch/", views.lti_launch, name="lti_launch"),
    path("identity/lti/link/", views.lti_course_link, name="lti_course_link"),
    path("identity/lti/deep-link/", views.lti_deep_link, name="lti_deep_link"),
]
