"""Pages of the mastery app."""

from django.urls import URLPattern, URLResolver

app_name = "mastery"
urlpatterns: list[URLPattern | URLResolver] = []
