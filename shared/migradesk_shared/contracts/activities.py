"""intake.activities.v1 — governance activities the desk logs (dimensions 2–4), key = activity_id."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import Field

from migradesk_shared.contracts.case_events import LanguageCode
from migradesk_shared.contracts.envelope import Event


class ActivityEvent(Event):
    activity_id: str
    municipality: str
    held_on: date

    def partition_key(self) -> str:
        return self.activity_id


class TrainingHeld(ActivityEvent):
    event_type: Literal["TrainingHeld"] = "TrainingHeld"
    schema_version: Literal[1] = 1
    topic: str = Field(max_length=200)
    # Servants trained per sector (health, education, social_assistance, security, ...).
    servants_trained_by_sector: dict[str, Annotated[int, Field(ge=0)]]


class ParticipationEventHeld(ActivityEvent):
    event_type: Literal["ParticipationEventHeld"] = "ParticipationEventHeld"
    schema_version: Literal[1] = 1
    kind: Literal["participatory", "cultural"]
    migrant_participants: int = Field(ge=0)


class InformationMaterialPublished(ActivityEvent):
    event_type: Literal["InformationMaterialPublished"] = "InformationMaterialPublished"
    schema_version: Literal[1] = 1
    title: str = Field(max_length=200)
    languages: list[LanguageCode] = Field(min_length=1)


ActivityEventUnion = Annotated[TrainingHeld | ParticipationEventHeld | InformationMaterialPublished,
                               Field(discriminator="event_type")]
