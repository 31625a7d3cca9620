"""The schema declares the answers every operation may give (common/api_schema.py); the
fuzzing in tests/security/test_schemathesis.py checks every answer's code against it."""

from __future__ import annotations

from django.test import Client

from common.api_schema import EVERY_OPERATION, METHODS


def test_every_operation_declares_the_errors_every_operation_may_answer(db: None) -> None:
    schema = Client().get("/api/schema/?format=json").json()
    operations = [
        (method, path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]
    assert len(operations) > 80
    for method, path, operation in operations:
        codes = set(operation["responses"])
        assert set(EVERY_OPERATION) <= codes, (method, path)
        if "requestBody" in operation:
            assert "415" in codes, (method, path)
        assert any(code.startswith("2") for code in codes), (method, path)
    assert schema["components"]["schemas"]["Error"]["properties"]["detail"] == {"type": "string"}
