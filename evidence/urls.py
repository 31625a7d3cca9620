"""Pages of the evidence app."""

from django.urls import URLPattern, URLResolver, path

from evidence import views

app_name = "evidence"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.evidence_index, name="index"),
    path("record/", views.record_choose_section, name="record"),
    path("record/<int:section_id>/", views.record_ratings, name="record_ratings"),
    path("record/<int:section_id>/grid/", views.record_grid_ratings, name="grid_ratings"),
    path("submit/", views.submit_evidence, name="submit"),
    path("review/", views.review_queue, name="review_queue"),
    path("review/bulk/", views.review_bulk, name="review_bulk"),
    path("import/", views.import_ratings, name="import"),
    path("learners/<int:learner_id>/", views.learner_evidence, name="learner"),
    path("<int:evidence_id>/", views.evidence_detail, name="detail"),
    path("<int:evidence_id>/review/", views.review_evidence, name="review"),
    path("<int:evidence_id>/revise/", views.revise_evidence, name="revise"),
    path("<int:evidence_id>/remove/", views.remove_evidence, name="remove"),
    path("ratings/<int:rating_id>/supersede/", views.supersede_rating, name="supersede_rating"),
    path("ratings/<int:rating_id>/remove/", views.remove_rating, name="remove_rating"),
    path("artifacts/<int:artifact_id>/download/", views.download_artifact, name="download"),
    path("artifacts/<int:artifact_id>/preview.png", views.preview_artifact, name="preview"),
    path("<int:evidence_id>/reflect/", views.reflect_on_evidence, name="reflect"),
]
