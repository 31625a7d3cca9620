"""Blind review: the reviewer's pages and API answers show the work, its files and reflection,
and neither the learner's name (a canary name, also written in the title, the description,
the reflection, a link and a file name) nor the first rating (its score, comment or rater)."""

from __future__ import annotations

import json

from django.test import Client
from django.urls import reverse

from moderation import services
from moderation.models import ModerationItem
from tests.moderation.world import CANARY_FAMILY, CANARY_GIVEN, FIRST_COMMENT, District

FIRST_SCORE_TEXTS = ("2.75", "2,75")


def _canary_item(district: District) -> ModerationItem:
    round_ = services.start_round(
        actor=district.district_admin,
        organisation=district.district,
        term=district.term,
        title="Blind round",
        standards=[district.standards.counting],
        sample_size=12,
        seed=1,
    )
    return round_.items.get(rating=district.canary_rating)


def _assert_blind(text: str, district: District, where: str) -> None:
    lowered = text.lower()
    for secret in (CANARY_GIVEN, CANARY_FAMILY, FIRST_COMMENT.split(":")[0]):
        assert secret.lower() not in lowered, f"{where} shows {secret!r}"
    for score in FIRST_SCORE_TEXTS:
        assert score not in text, f"{where} shows the first score {score}"
    first_rater = district.t_a1
    assert first_rater.get_full_name() not in text, f"{where} names the first rater"
    assert '"learner"' not in text, f"{where} carries a learner field"


def test_the_reviewer_sees_the_work_without_the_name_or_the_first_rating(
    district: District,
) -> None:
    item = _canary_item(district)
    client = Client()
    client.force_login(item.reviewer)
    pages = {
        "the review list": client.get(reverse("moderation:review_list")),
        "the piece": client.get(reverse("moderation:review_detail", args=[item.pk])),
        "the API list": client.get("/api/v1/moderation/reviews/"),
        "the API piece": client.get(f"/api/v1/moderation/reviews/{item.pk}/"),
    }
    for where, response in pages.items():
        assert response.status_code == 200, where
        _assert_blind(response.content.decode(), district, where)
    page = pages["the piece"].content.decode()
    # The work is there, with the names replaced.
    assert "the learner&#x27;s counting poster" in page
    assert "Made by the learner the learner." in page
    assert "I, the learner, learned to count to 100." in page
    assert "Link 1 is withheld: its address names the learner." in page
    assert reverse("moderation:review_file", args=[item.pk, 2]) in page
    piece = json.loads(pages["the API piece"].content)
    assert piece["artifacts"][0]["withheld"] is True
    assert piece["artifacts"][0]["url"] == ""
    assert piece["artifacts"][1]["download_url"].endswith(f"/reviews/{item.pk}/files/2/")
    assert piece["reflection"][0]["answer"] == "I, the learner, learned to count to 100."
    assert set(piece) >= {"standard_code", "levels", "your_rating", "description"}
    # The file comes under a name that says nothing of its author.
    download = client.get(reverse("moderation:review_file", args=[item.pk, 2]))
    assert download.status_code == 200
    expected = f'attachment; filename="piece-{item.position}-file-2.png"'
    assert download["Content-Disposition"] == expected
    assert "no-store" in download["Cache-Control"]
    # Rating it (page and API) answers without the first rating either.
    rated = client.post(
        reverse("moderation:review_detail", args=[item.pk]), {"score": "3", "comment": "ok"}
    )
    assert rated.status_code == 302
    again = client.post(
        f"/api/v1/moderation/reviews/{item.pk}/rate/",
        {"score": "4.00", "comment": "changed my mind"},
        content_type="application/json",
    )
    assert again.status_code == 200
    _assert_blind(again.content.decode(), district, "the API rating's answer")
    assert json.loads(again.content)["your_rating"]["score"] == "4.00"


def test_nobody_but_the_reviewer_reaches_the_piece(district: District) -> None:
    item = _canary_item(district)
    urls = [
        reverse("moderation:review_detail", args=[item.pk]),
        reverse("moderation:review_file", args=[item.pk, 2]),
        f"/api/v1/moderation/reviews/{item.pk}/",
        f"/api/v1/moderation/reviews/{item.pk}/files/2/",
    ]
    for user in [*district.teachers(), district.district_admin, district.hill_admin]:
        if user.pk == item.reviewer_id:
            continue
        client = Client()
        client.force_login(user)
        for url in urls:
            assert client.get(url).status_code == 404, (user.username, url)
    client = Client()
    client.force_login(item.reviewer)
    # A link is not a file, and there is no file 9.
    assert client.get(reverse("moderation:review_file", args=[item.pk, 1])).status_code == 404
    assert client.get(reverse("moderation:review_file", args=[item.pk, 9])).status_code == 404
