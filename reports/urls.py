"""Pages of the reports app."""

from django.urls import URLPattern, URLResolver, path

from reports import views

app_name = "reports"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.report_list, name="report_list"),
    path("<int:pk>/", views.report_detail, name="report_detail"),
    path("sections/<int:pk>/export/", views.section_export, name="section_export"),
    path("learners/<int:pk>/transcript/", views.learner_transcript, name="learner_transcript"),
    path("download/<str:token>/", views.download, name="download"),
]
