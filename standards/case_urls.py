"""The CASE 1.1 REST read endpoints at ``/ims/case/v1p1/`` (see standards.case_provider)."""

from django.urls import URLPattern, URLResolver, path

from standards import case_provider as views

app_name = "case"
urlpatterns: list[URLPattern | URLResolver] = [
    path("CFDocuments", views.documents, name="documents"),
    path("CFDocuments/<str:sourced_id>", views.document, name="document"),
    path("CFPackages/<str:sourced_id>", views.package, name="package"),
    path("CFItems/<str:sourced_id>", views.item, name="item"),
    path("CFItemAssociations/<str:sourced_id>", views.item_associations, name="item_associations"),
    path("CFAssociations/<str:sourced_id>", views.association, name="association"),
]
