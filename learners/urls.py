"""Pages of the learners app."""

from django.urls import URLPattern, URLResolver, path

from learners import views

app_name = "learners"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.learner_list, name="learner_list"),
    path("<int:pk>/", views.learner_detail, name="learner_detail"),
    path("me/profile/", views.my_profile, name="my_profile"),
    path("sections/", views.section_list, name="section_list"),
    path("sections/<int:pk>/", views.section_detail, name="section_detail"),
    path("roster/import/", views.roster_import, name="roster_import"),
]
