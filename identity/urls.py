"""Routes of the identity app, mounted at the site root (the key set lives at a well-known path)."""

from django.urls import path

from identity import views

app_name = "identity"

urlpatterns = [
    path(".well-known/jwks.json", views.jwks, name="jwks"),
    path("identity/sso/<int:provider_id>/", views.sso_start, name="sso_start"),
    path("identity/sso/callback/", views.sso_callback, name="sso_callback"),
    path("identity/refused/<slug:reason>/", views.refused, name="refused"),
]
