from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from migradesk_shared.contracts.case_events import CaseOpened, PersonFacets
from migradesk_shared.contracts.registry import TOPIC_CONTRACTS
from migradesk_shared.settings import Environment, ServiceSettings
from migradesk_shared.topics import ALL_TOPICS, CASE_EVENTS, REFERRAL_EVENTS, all_topic_specs
from scripts.contract_docs import render, stale_files

PII_FIELDS = {"full_name", "name", "birth_date", "documents", "phone", "email", "address", "notes", "comment",
              "description"}


def field_names(schema: dict[str, Any]) -> set[str]:
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            names.update(node.get("properties", {}).keys())
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return names


def test_every_topic_has_a_contract_and_a_dlq() -> None:
    assert {s.name for s in ALL_TOPICS} == set(TOPIC_CONTRACTS)
    names = {s.name for s in all_topic_specs()}
    assert all(f"{s.name}.dlq" in names for s in ALL_TOPICS)


def test_only_restricted_topics_carry_personal_data() -> None:
    for spec in ALL_TOPICS:
        fields = field_names(TOPIC_CONTRACTS[spec.name].json_schema())
        if not spec.restricted:
            assert not fields & PII_FIELDS, f"{spec.name} is not restricted but carries {fields & PII_FIELDS}"
    assert not CASE_EVENTS.restricted and not REFERRAL_EVENTS.restricted


def test_envelope_and_unknown_event_types_are_refused() -> None:
    event = CaseOpened(producer="intake", case_id="c1", municipality="Dourados-MS", facets=PersonFacets())
    parsed = TOPIC_CONTRACTS[CASE_EVENTS.name].validate_json(event.model_dump_json())
    assert parsed == event and parsed.schema_version == 1 and parsed.event_id
    unknown = json.loads(event.model_dump_json()) | {"event_type": "CaseTeleported"}
    with pytest.raises(ValidationError):
        TOPIC_CONTRACTS[CASE_EVENTS.name].validate_python(unknown)
    newer = json.loads(event.model_dump_json()) | {"schema_version": 2}
    with pytest.raises(ValidationError):
        TOPIC_CONTRACTS[CASE_EVENTS.name].validate_python(newer)
    extra = json.loads(event.model_dump_json()) | {"full_name": "should never be here"}
    with pytest.raises(ValidationError, match="full_name"):
        TOPIC_CONTRACTS[CASE_EVENTS.name].validate_python(extra)


def test_committed_schemas_and_asyncapi_documents_match_the_code() -> None:
    assert stale_files() == [], "run `make schemas` and commit docs/contracts/"
    documents = render()
    assert any(name.startswith("asyncapi/") for name in documents)
    assert len([n for n in documents if n.startswith("schemas/")]) == len(ALL_TOPICS)


def test_placeholder_secrets_are_refused_outside_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIGRADESK_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="API_TOKEN_SECRET is a placeholder"):
        ServiceSettings()
    monkeypatch.setenv("MIGRADESK_API_TOKEN_SECRET", "short-but-not-a-placeholder")
    with pytest.raises(ValidationError, match="too short"):
        ServiceSettings()
    monkeypatch.setenv("MIGRADESK_API_TOKEN_SECRET", "a-real-long-random-secret-value-of-48-characters")
    assert ServiceSettings().environment is Environment.PRODUCTION


def test_invalid_settings_fail_fast_naming_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIGRADESK_HTTP_PORT", "99999")
    with pytest.raises(ValidationError, match="http_port"):
        ServiceSettings()


def test_dead_letters_holding_personal_data_are_kept_30_days_and_the_others_as_long_as_their_events() -> None:
    from migradesk_shared.topics import dlq_of

    for spec in ALL_TOPICS:
        dlq = dlq_of(spec)
        if spec.restricted:
            assert dlq.restricted and dlq.retention_ms == 30 * 24 * 3600 * 1000, spec.name
        else:
            assert dlq.retention_ms == spec.retention_ms == -1, spec.name
