"""Governance activities: each is stored with the one event that announces it, and the relay is told."""

from __future__ import annotations

from datetime import date

import pytest

from migradesk_intake.adapters.repository import IntakeRepository
from migradesk_intake.domain.activity import Activity, InformationMaterial, ParticipationEvent, Training
from migradesk_intake.service import IntakeService, LogActivity
from tests.service.intake.helpers import ACTIVITY_TOPIC, TOWN, RelayCalls

HELD = date(2026, 11, 10)


@pytest.mark.parametrize(("activity", "event_type", "fields"), [
    (Training(HELD, "Acolhimento de migrantes", {"health": 12, "education": 3}), "TrainingHeld",
     {"topic": "Acolhimento de migrantes", "servants_trained_by_sector": {"health": 12, "education": 3}}),
    (ParticipationEvent(HELD, "cultural", 40), "ParticipationEventHeld", {"kind": "cultural",
                                                                          "migrant_participants": 40}),
    (InformationMaterial(HELD, "Guia do SUS", ("es", "ht")), "InformationMaterialPublished",
     {"title": "Guia do SUS", "languages": ["es", "ht"]}),
])
async def test_an_activity_is_stored_with_its_event(
        service: IntakeService, repository: IntakeRepository, relay_calls: RelayCalls, activity: Activity,
        event_type: str, fields: dict[str, object]) -> None:
    logged = await service.log_activity(LogActivity(activity, actor="ana"))
    assert relay_calls.calls == [("activities", logged.activity_id)]
    [event] = await repository.activity_events(logged.activity_id)
    assert (event.topic, event.event_type, event.key) == (ACTIVITY_TOPIC, event_type, logged.activity_id)
    assert event.payload is not None
    assert event.payload["municipality"] == TOWN and event.payload["held_on"] == "2026-11-10"
    assert {k: event.payload[k] for k in fields} == fields
    assert await repository.activity_events("no-such-activity") == []
