"""Pages of the moderation app."""

from django.urls import URLPattern, URLResolver, path

from moderation import views

app_name = "moderation"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.index, name="index"),
    path("rounds/new/", views.round_new, name="round_new"),
    path("rounds/<int:pk>/", views.round_detail, name="round_detail"),
    path("rounds/<int:pk>/close/", views.round_close, name="round_close"),
    path("reviews/", views.review_list, name="review_list"),
    path("reviews/<int:pk>/", views.review_detail, name="review_detail"),
    path("reviews/<int:pk>/files/<int:number>/", views.review_file, name="review_file"),
    path("equity/", views.equity, name="equity"),
    path("equity/demographics/<int:organisation_pk>/", views.demographics, name="demographics"),
    path("tasks/", views.task_list, name="task_list"),
    path("tasks/new/", views.task_new, name="task_new"),
    path("tasks/<int:pk>/", views.task_detail, name="task_detail"),
    path("tasks/<int:pk>/sections/<int:section_pk>/", views.task_results, name="task_results"),
]
