"""Pages of the standards app."""

from django.urls import URLPattern, URLResolver, path

from standards import views

app_name = "standards"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.framework_list, name="framework_list"),
    path("frameworks/<int:pk>/", views.framework_detail, name="framework_detail"),
    path("search/", views.standard_search, name="standard_search"),
    path("frameworks/<int:pk>/export/", views.framework_export, name="framework_export"),
    path("import/", views.framework_import, name="framework_import"),
    path("settings/", views.settings_index, name="settings_index"),
    path("organisations/<int:organisation_pk>/scale/", views.scale_edit, name="scale_edit"),
    path(
        "organisations/<int:organisation_pk>/scale/remove/",
        views.scale_remove,
        name="scale_remove",
    ),
    path("organisations/<int:organisation_pk>/policy/", views.policy_edit, name="policy_edit"),
    path(
        "organisations/<int:organisation_pk>/policy/remove/",
        views.policy_remove,
        name="policy_remove",
    ),
    path(
        "organisations/<int:organisation_pk>/policy/frameworks/<int:framework_pk>/",
        views.policy_edit,
        name="policy_override",
    ),
    path(
        "organisations/<int:organisation_pk>/policy/frameworks/<int:framework_pk>/remove/",
        views.policy_remove,
        name="policy_override_remove",
    ),
    path(
        "organisations/<int:organisation_pk>/requirements/",
        views.requirements_page,
        name="requirements",
    ),
    path("requirements/<int:pk>/remove/", views.requirement_remove, name="requirement_remove"),
    path("electives/<int:pk>/delete/", views.elective_group_delete, name="elective_group_delete"),
    path("electives/mine/", views.my_electives, name="my_electives"),
    path("electives/review/", views.elective_review, name="elective_review"),
]
