"""Pages of the learners app."""

from django.urls import URLPattern, URLResolver, path

from learners import views

app_name = "learners"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.learner_list, name="learner_list"),
    path("<int:pk>/", views.learner_detail, name="learner_detail"),
    path("search/", views.learner_search, name="learner_search"),
    path("sections/search/", views.section_search, name="section_search"),
    path("me/profile/", views.my_profile, name="my_profile"),
    path("sections/", views.section_list, name="section_list"),
    path("sections/<int:pk>/", views.section_detail, name="section_detail"),
    path("roster/import/", views.roster_import, name="roster_import"),
    path("manage/", views.people, name="people"),
    path("manage/learners/add/", views.learner_add, name="learner_add"),
    path("<int:pk>/edit/", views.learner_edit, name="learner_edit"),
    path("manage/sections/add/", views.section_add, name="section_add"),
    path("sections/<int:pk>/edit/", views.section_edit, name="section_edit"),
    path("sections/<int:pk>/enrollments/", views.section_enrollments, name="section_enrollments"),
    path("manage/terms/add/", views.term_add, name="term_add"),
    path("manage/terms/<int:pk>/edit/", views.term_edit, name="term_edit"),
]
