"""Pages of the standards app."""

from django.urls import URLPattern, URLResolver

app_name = "standards"
urlpatterns: list[URLPattern | URLResolver] = []
