"""Pages of the reports app."""

from django.urls import URLPattern, URLResolver, path

from reports import views

app_name = "reports"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.report_list, name="report_list"),
    path("<int:pk>/", views.report_detail, name="report_detail"),
    path("download/<str:token>/", views.download, name="download"),
]
