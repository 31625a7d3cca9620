"""Image previews and several files per submission: thumbnails re-encoded safely, bombs
refused, every file still checked by content."""

from __future__ import annotations

import datetime
import io
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from evidence import thumbnails
from evidence.models import Artifact, Evidence, Reflection
from tests.evidence.conftest import Standards
from tests.personas import Cast

pytestmark = pytest.mark.django_db


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 90)).save(out, format="PNG")
    return out.getvalue()


def test_a_thumbnail_is_a_small_new_png() -> None:
    data = thumbnails.thumbnail(_png(1200, 600))
    with Image.open(io.BytesIO(data)) as image:
        assert (image.format, image.size) == ("PNG", (320, 160))


def test_a_decompression_bomb_gets_no_preview() -> None:
    # A tiny file declaring 100 000 x 100 000 pixels: refused before any pixel is decoded.
    header = _png(1, 1)
    bomb = header[:16] + (100_000).to_bytes(4, "big") + (100_000).to_bytes(4, "big") + header[24:]
    with pytest.raises(thumbnails.NoPreview):
        thumbnails.thumbnail(bomb)
    with pytest.raises(thumbnails.NoPreview):
        thumbnails.thumbnail(b"<svg onload=alert(1)>")


def _student(cast: Cast) -> Client:
    client = Client()
    client.force_login(cast.student)
    return client


def test_a_student_submits_several_files_and_links_each_checked(
    cast: Cast, standards: Standards, media_root: Path
) -> None:
    client = _student(cast)
    form: dict[str, Any] = {
        "title": "Garden survey",
        "kind": "project",
        "setting": "community",
        "demonstrated_on": "2026-11-02",
        "description": "",
        "file": [
            SimpleUploadedFile("plot.png", _png(40, 30), content_type="image/png"),
            SimpleUploadedFile("notes.txt", b"Beans in row 3.\n", content_type="text/plain"),
        ],
        "link": "https://example.org/a\nhttps://example.org/b",
    }
    response = client.post(reverse("evidence:submit"), form)
    assert response.status_code == 302
    evidence = Evidence.objects.get(title="Garden survey")
    kinds = sorted(Artifact.objects.filter(evidence=evidence).values_list("kind", flat=True))
    assert kinds == ["file", "file", "link", "link"]
    image = Artifact.objects.get(evidence=evidence, content_type="image/png")
    preview = client.get(reverse("evidence:preview", args=[image.pk]))
    assert preview.status_code == 200
    assert preview["Content-Type"] == "image/png"
    assert preview["X-Content-Type-Options"] == "nosniff"
    text = Artifact.objects.get(evidence=evidence, content_type__startswith="text/plain")
    assert client.get(reverse("evidence:preview", args=[text.pk])).status_code == 404
    outsider = Client()
    outsider.force_login(cast.other_student)
    assert outsider.get(reverse("evidence:preview", args=[image.pk])).status_code == 404

    # One hostile file among good ones: nothing is written.
    form["title"] = "Second survey"
    form["file"] = [
        SimpleUploadedFile("ok.png", _png(4, 4), content_type="image/png"),
        SimpleUploadedFile("page.png", b"<html><script>alert(1)</script></html>"),
    ]
    form["link"] = ""
    refused = client.post(reverse("evidence:submit"), form)
    assert refused.status_code == 200
    assert "File 2:" in refused.content.decode()
    assert not Evidence.objects.filter(title="Second survey").exists()


def test_a_student_reflects_on_evidence_a_teacher_recorded(
    cast: Cast, standards: Standards
) -> None:
    from evidence import services

    recorded = services.record_evidence(
        actor=cast.teacher,
        learner=cast.own,
        kind="observation",
        title="Counting aloud",
        demonstrated_at=datetime.date(2026, 11, 2),
        section=cast.section,
        scores={standards.counting.pk: 3},
    )
    client = _student(cast)
    response = client.post(
        reverse("evidence:reflect", args=[recorded.pk]),
        {"what_i_learned": "Counting by fives is faster."},
    )
    assert response.status_code == 302
    assert Reflection.objects.get(evidence=recorded).author_id == cast.student.pk
    page = client.get(reverse("evidence:detail", args=[recorded.pk])).content.decode()
    assert "Counting by fives is faster." in page
    other = Client()
    other.force_login(cast.other_student)
    assert (
        other.post(
            reverse("evidence:reflect", args=[recorded.pk]), {"what_i_learned": "x"}
        ).status_code
        == 404
    )
