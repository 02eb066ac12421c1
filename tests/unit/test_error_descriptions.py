"""What consumers write about a failure (log lines, dead-letter headers) never quotes a person's data."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from migradesk_shared.kafka import _describe


class Person(BaseModel):
    full_name: str
    birth_year: int


def test_a_validation_error_is_described_by_where_and_what_not_by_the_input() -> None:
    with pytest.raises(ValidationError) as caught:
        Person.model_validate({"full_name": "Canário Secreto", "birth_year": "Canário Secreto"})
    assert "Canário" in str(caught.value)  # pydantic's own text quotes the input...
    described = _describe(caught.value)
    assert "Canário" not in described  # ...ours does not
    assert "birth_year" in described and "ValidationError" in described


def test_other_errors_keep_their_repr() -> None:
    assert _describe(RuntimeError("store unreachable")) == "RuntimeError('store unreachable')"
