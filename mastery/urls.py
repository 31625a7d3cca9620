"""Pages of the mastery app."""

from django.urls import URLPattern, URLResolver, path

from mastery import views

app_name = "mastery"
urlpatterns: list[URLPattern | URLResolver] = [
    path("bulk/", views.bulk_list, name="bulk_list"),
    path("bulk/<int:pk>/", views.bulk_detail, name="bulk_detail"),
    path("records/<int:pk>/", views.record_detail, name="record_detail"),
]
