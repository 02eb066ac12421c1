"""The activities API of before the governance register: what it logs is a register record like any other
(listed, corrected and counted with them), announced by the register's event."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from pydantic import TypeAdapter

from migradesk_intake.adapters.governance import InMemoryGovernanceRepository
from migradesk_intake.adapters.views import activity_facts, activity_view
from migradesk_intake.entrypoints.schemas import ActivityIn
from migradesk_intake.governance import GovernanceRegister
from tests.service.intake.helpers import ACTIVITY_TOPIC, TOWN, Clock

ACTIVITY_IN: TypeAdapter[Any] = TypeAdapter(ActivityIn)


@pytest.mark.parametrize(("payload", "after"), [
    ({"kind": "training", "held_on": "2026-11-10", "topic": "Acolhimento de migrantes",
      "servants_trained_by_sector": {"health": 12, "education": 3}},
     {"kind": "training", "title": "Acolhimento de migrantes", "audience": "public_servants",
      "servants_trained_by_sector": {"health": 12, "education": 3}}),
    ({"kind": "participation_event", "held_on": "2026-11-10", "event_kind": "cultural", "migrant_participants": 40},
     {"kind": "cultural_event", "title": "Evento cultural", "participants": 40}),
    ({"kind": "information_material", "held_on": "2026-11-10", "title": "Guia do SUS", "languages": ["es", "ht"]},
     {"kind": "information_material", "title": "Guia do SUS", "languages": ["es", "ht"]}),
])
async def test_an_activity_of_the_old_api_is_a_register_record_with_its_event(
        payload: dict[str, Any], after: dict[str, Any]) -> None:
    store = InMemoryGovernanceRepository()
    register = GovernanceRegister(store, municipality=TOWN, clock=Clock())
    activity_in = ACTIVITY_IN.validate_python(payload)
    recorded = await register.record(activity_facts(activity_in), actor="ana")
    assert activity_view(recorded, activity_in) == {"activity_id": recorded.record_id, "kind": payload["kind"],
                                                    "held_on": "2026-11-10"}
    [event] = await store.record_events(recorded.record_id)
    assert (event.topic, event.event_type, event.key) == (ACTIVITY_TOPIC, "GovernanceRecordRevised",
                                                          recorded.record_id)
    assert event.payload is not None and event.payload["before"] is None
    assert event.payload["municipality"] == TOWN and event.payload["after"]["held_on"] == "2026-11-10"
    assert {k: event.payload["after"][k] for k in after} == after
    assert [r.record_id for r in (await register.register(date(2026, 1, 1).year)).activities] == [recorded.record_id]
