"""Pages of learners and families."""

from django.urls import URLPattern, URLResolver, path

from portal import views

app_name = "portal"
urlpatterns: list[URLPattern | URLResolver] = [
    path("goals/", views.goals, name="goals"),
    path("goals/<int:pk>/", views.goal_edit, name="goal_edit"),
    path("settings/", views.settings_page, name="settings"),
    path("notifications/", views.notifications, name="notifications"),
]
