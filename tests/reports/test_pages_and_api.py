"""The reports page and API: request, progress, download; every denial answers 404."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse

from audit.models import AuditEntry
from reports import selectors, services
from reports.models import ReportRequest
from tests.reports.world import World, expected_state_rows

API = "/api/v1/reports/"


def _payload(world: World, **extra: object) -> dict[str, Any]:
    return {
        "kind": "state_export",
        "format": "csv",
        "as_of": world.day.isoformat(),
        "organisation": world.cast.district.pk,
        "term": world.term.pk,
        **extra,
    }


def _ready(world: World, user: object) -> ReportRequest:
    report = services.request_report(
        actor=user,  # type: ignore[arg-type]
        kind="section_export",
        file_format="csv",
        as_of=world.day,
        section=world.cast.section.pk,
    )
    done = services.generate_report(report_id=report.pk)
    assert done is not None
    return done


def test_the_api_queues_a_request_and_shows_its_progress(world: World, client_for: Any) -> None:
    client: Client = client_for(world.cast.district_admin)
    response = client.post(API, _payload(world), content_type="application/json")
    assert response.status_code == 201
    body = response.json()
    assert (body["kind"], body["format"], body["status"], body["download_url"]) == (
        "state_export", "csv", "queued", None,
    )  # fmt: skip
    services.generate_report(report_id=body["id"])
    detail = client.get(f"{API}{body['id']}/").json()
    rows = len(expected_state_rows(world, world.cast.district))
    assert (detail["status"], detail["percent"], detail["row_count"]) == ("done", 100, rows)
    download = client.get(detail["download_url"])
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment;")
    assert "no-store" in download["Cache-Control"]
    assert b"".join(download.streaming_content).startswith(b"state_student_id,")


def test_the_api_refuses_out_of_scope_with_404_and_bad_input_with_400(
    world: World, client_for: Any
) -> None:
    client: Client = client_for(world.cast.school_admin)
    other = _payload(
        world, kind="school_report", format="xlsx", organisation=world.cast.other_school.pk
    )
    assert client.post(API, other, content_type="application/json").status_code == 404
    bad = client.post(API, _payload(world, format="pdf"), content_type="application/json")
    assert bad.status_code == 400
    # The field is the key; its message does not name it again.
    assert bad.json() == {"format": ["state_export comes as csv, json, ndjson."]}
    future = client.post(API, _payload(world, as_of="2999-01-01"), content_type="application/json")
    assert future.json() == {"as_of": ["The day must not be in the future."]}
    missing = client.post(API, _payload(world, term=None), content_type="application/json")
    assert (missing.status_code, list(missing.json())) == (400, ["term"])
    assert not ReportRequest.objects.exists()


def test_the_api_lists_only_the_users_own_reports(world: World, client_for: Any) -> None:
    mine = _ready(world, world.cast.teacher)
    theirs = _ready(world, world.cast.co_teacher)
    client: Client = client_for(world.cast.teacher)
    listed = client.get(API).json()
    assert [item["id"] for item in listed["results"]] == [mine.pk]
    assert client.get(f"{API}{theirs.pk}/").status_code == 404
    # The co-teacher's link, even if it leaked, does not work for this user.
    token = selectors.download_token(theirs)
    assert client.get(f"{API}download/{token}/").status_code == 404


def test_anonymous_users_get_nothing(world: World, client: Client) -> None:
    assert client.get(API).status_code in (401, 403)
    report = _ready(world, world.cast.teacher)
    path = selectors.download_path(report)
    assert path is not None
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_page_requests_a_report_and_lists_it_with_a_link(world: World, client_for: Any) -> None:
    client: Client = client_for(world.cast.teacher)
    page = client.get(reverse("reports:report_list"))
    assert page.status_code == 200
    assert b'<label for="id_kind">' in page.content
    response = client.post(
        reverse("reports:report_list"),
        {
            "kind": "section_export",
            "file_format": "xlsx",
            "as_of": world.day.isoformat(),
            "section": world.cast.section.title,  # chosen by name, never by id
        },
    )
    report = ReportRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("reports:report_detail", args=[report.pk])
    detail = client.get(response["Location"]).content.decode()
    assert f"Section gradebook export of {world.cast.section.title}" in detail
    assert "Waiting for a worker to start it" in detail
    assert "data-poll=" in detail  # the page follows the progress by itself
    services.generate_report(report_id=report.pk)
    listing = client.get(reverse("reports:report_list")).content.decode()
    assert "Ready: 3 rows" in listing
    assert "/reports/download/" in listing
    assert "no-store" in client.get(reverse("reports:report_list"))["Cache-Control"]


def test_the_page_shows_a_scope_error_and_refuses_out_of_scope(
    world: World, client_for: Any
) -> None:
    client: Client = client_for(world.cast.teacher)
    typed = {
        "kind": "section_export",
        "file_format": "csv",
        "as_of": world.day.isoformat(),
        "section": world.cast.school_section.title,
    }
    outside = client.post(reverse("reports:report_list"), typed)
    # Sections are looked up among the teacher's own: another school's is not found, and the
    # form comes back as typed with the reason.
    assert outside.status_code == 200
    page = outside.content.decode()
    assert f"No section of yours matches “{world.cast.school_section.title}”." in page
    assert f'value="{world.cast.school_section.title}"' in page
    assert not ReportRequest.objects.exists()
    wrong = client.post(
        reverse("reports:report_list"),
        {"kind": "transcript", "file_format": "pdf", "as_of": world.day.isoformat()},
    )
    assert wrong.status_code == 200
    assert b"Choose a learner for this report." in wrong.content


def test_a_student_gets_their_own_transcript_only(world: World, client_for: Any) -> None:
    client: Client = client_for(world.cast.student)
    own = {"kind": "transcript", "file_format": "pdf", "as_of": world.day.isoformat()}
    response = client.post(
        reverse("reports:report_list"), {**own, "learner": world.cast.own.display_name}
    )
    assert response.status_code == 302
    report = ReportRequest.objects.get()
    services.generate_report(report_id=report.pk)
    link = selectors.download_path(ReportRequest.objects.get(pk=report.pk))
    assert link is not None
    pdf = client.get(link)
    assert pdf["Content-Type"] == "application/pdf"
    other = {**own, "learner": world.cast.same_section.display_name}
    refused = client.post(reverse("reports:report_list"), other)
    assert refused.status_code == 200
    assert "No learner of yours matches" in refused.content.decode()
    assert ReportRequest.objects.count() == 1


def test_the_report_detail_of_another_user_is_404(world: World, client_for: Any) -> None:
    report = _ready(world, world.cast.co_teacher)
    client: Client = client_for(world.cast.teacher)
    assert client.get(reverse("reports:report_detail", args=[report.pk])).status_code == 404


def test_the_grid_and_learner_page_buttons_request_their_report(
    world: World, client_for: Any
) -> None:
    client: Client = client_for(world.cast.teacher)
    export = client.post(
        reverse("reports:section_export", args=[world.cast.section.pk]), {"file_format": "xlsx"}
    )
    report = ReportRequest.objects.get()
    assert export["Location"] == reverse("reports:report_detail", args=[report.pk])
    assert (report.kind, report.file_format, report.section_id) == (
        "section_export",
        "xlsx",
        world.cast.section.pk,
    )
    transcript = client.post(reverse("reports:learner_transcript", args=[world.cast.own.pk]))
    assert transcript.status_code == 302
    assert ReportRequest.objects.filter(kind="transcript", learner=world.cast.own).exists()
    # Out of scope: not found, and the refusal is audited.
    outside = reverse("reports:section_export", args=[world.cast.school_section.pk])
    assert client.post(outside).status_code == 404
    assert AuditEntry.objects.filter(action="report.request", outcome="denied").count() == 1
