"""Pages of the mastery app."""

from django.urls import URLPattern, URLResolver, path

from mastery import views

app_name = "mastery"
urlpatterns: list[URLPattern | URLResolver] = [
    path("bulk/", views.bulk_list, name="bulk_list"),
    path("bulk/<int:pk>/", views.bulk_detail, name="bulk_detail"),
    path("records/<int:pk>/", views.record_detail, name="record_detail"),
    path("sections/<int:pk>/grid/", views.section_grid, name="section_grid"),
    path("learners/<int:pk>/", views.learner_page, name="learner_page"),
    path(
        "learners/<int:learner_pk>/standards/<int:standard_pk>/",
        views.cell_detail,
        name="cell_detail",
    ),
    path("learners/<int:learner_pk>/override/", views.override_set, name="override_set"),
    path("overrides/<int:pk>/clear/", views.override_clear, name="override_clear"),
    path("me/", views.my_mastery, name="my_mastery"),
    path("organisations/<int:organisation_pk>/scale.css", views.scale_css, name="scale_css"),
]
