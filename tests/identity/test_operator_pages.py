"""The operator's pages for sign-in and launches, and what happens when a provider is away."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from identity import remote
from identity.models import IdentityProvider, KeyPurpose, LtiPlatform, SigningKey
from identity.sealing import unseal
from tests.personas import Cast, _module_cast, shared_cast

__all__ = ["_module_cast", "shared_cast"]

pytestmark = pytest.mark.django_db


@pytest.fixture
def cast(shared_cast: Cast) -> Cast:
    return shared_cast


@pytest.fixture
def operator() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("operator-h22", "op@example.org", "x"))
    return client


def test_a_typed_client_secret_is_sealed_and_never_shown_again(
    cast: Cast, operator: Client
) -> None:
    form = {
        "organisation": cast.district.pk, "name": "Northside", "issuer": "https://idp.example.org/",
        "client_id": "abc", "client_secret": "s3cret-value-typed", "client_secret_env": "",
        "scopes": "openid email", "claim": "email", "match_on": "email", "enabled": "on",
    }  # fmt: skip
    answer = operator.post("/admin/identity/identityprovider/add/", form)
    assert answer.status_code == 302, answer.content.decode()[:2000]
    provider = IdentityProvider.objects.get()
    assert provider.issuer == "https://idp.example.org"
    assert "s3cret" not in provider.client_secret_sealed
    assert unseal(provider.client_secret_sealed) == "s3cret-value-typed"
    page = operator.get(f"/admin/identity/identityprovider/{provider.pk}/change/").content.decode()
    assert "s3cret" not in page
    assert "/identity/sso/callback/" in page  # the redirect URI to register
    # Saving again with the field blank keeps the secret.
    operator.post(f"/admin/identity/identityprovider/{provider.pk}/change/",
                  {**form, "client_secret": ""})  # fmt: skip
    provider.refresh_from_db()
    assert unseal(provider.client_secret_sealed) == "s3cret-value-typed"


@pytest.mark.parametrize(
    ("change", "field"),
    [({"issuer": "http://idp.example.org"}, "issuer"), ({"scopes": "email"}, "scopes"),
     ({"client_secret_env": "not a name"}, "client_secret_env")],
)  # fmt: skip
def test_the_provider_form_refuses_unsafe_values(
    cast: Cast, operator: Client, change: dict[str, str], field: str
) -> None:
    form = {
        "organisation": cast.district.pk, "name": "N", "issuer": "https://idp.example.org",
        "client_id": "abc", "scopes": "openid", "claim": "email", "match_on": "email",
        **change,
    }  # fmt: skip
    answer = operator.post("/admin/identity/identityprovider/add/", form)
    assert answer.status_code == 200
    assert field in answer.context["adminform"].form.errors
    assert not IdentityProvider.objects.exists()


def test_registering_a_platform_publishes_our_tool_key(cast: Cast, operator: Client) -> None:
    answer = operator.post("/admin/identity/ltiplatform/add/", {
        "organisation": cast.district.pk, "name": "LMS", "issuer": "https://lms.example.org",
        "client_id": "c1", "auth_login_url": "https://lms.example.org/auth",
        "key_set_url": "https://lms.example.org/jwks", "person_claim": "lis_person_sourcedid",
        "match_on": "sourced_id", "enabled": "on",
        "deployments-TOTAL_FORMS": "1", "deployments-INITIAL_FORMS": "0",
        "deployments-0-deployment_id": "d-1",
    })  # fmt: skip
    assert answer.status_code == 302
    assert LtiPlatform.objects.get().deployments.get().deployment_id == "d-1"
    key = SigningKey.objects.get(purpose=KeyPurpose.LTI)
    kids = [item["kid"] for item in Client().get("/.well-known/jwks.json").json()["keys"]]
    assert kids == [key.kid]


def test_people_with_admin_roles_do_not_reach_the_operator_pages(cast: Cast) -> None:
    client = Client()
    client.force_login(cast.district_admin)
    answer = client.get("/admin/identity/identityprovider/")
    assert answer.status_code == 302
    assert "/admin/login/" in answer["Location"]


def test_an_unreachable_provider_gives_a_plain_page(cast: Cast) -> None:
    provider = IdentityProvider.objects.create(
        organisation=cast.district, name="Away", issuer="http://127.0.0.1:9", client_id="x"
    )
    answer = Client().get(f"/identity/sso/{provider.pk}/", follow=True)
    assert answer.status_code == 502
    assert "not available right now" in answer.content.decode()


def test_documents_are_fetched_directly_when_the_cache_is_down(settings: Any) -> None:
    """R4: losing Redis must not break sign-in; the key set is read without the cache. And what
    is fetched is bounded: https only, no redirect, at most 512 KiB."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    from tests.identity.platform import running_platform

    with running_platform() as lms:
        document = remote.fetch_json(lms.key_set_url, what="key set")
        assert document["keys"][0]["kid"] == "platform-key-1"
        # Never followed: a redirect; never read whole: a document over the limit.
        lms.answers["/moved"] = (302, {"Location": lms.key_set_url}, b"")
        lms.answers["/big"] = (200, {}, b'{"keys": []}' + b" " * remote.MAX_BYTES)
        with pytest.raises(remote.RemoteError, match="could not be fetched"):
            remote.fetch_json(f"{lms.url}/moved", what="key set")
        with pytest.raises(remote.RemoteError, match="larger than"):
            remote.fetch_json(f"{lms.url}/big", what="key set")
    with pytest.raises(remote.RemoteError, match="must use https"):
        remote.fetch_json("http://example.org/keys", what="key set")
