"""Governance activities the desk logs for the MigraCidades dimensions 2 to 4: trainings of public servants,
participation and cultural events, information materials. No personal data."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from migradesk_shared.contracts.activities import (
    ActivityEvent,
    InformationMaterialPublished,
    ParticipationEventHeld,
    TrainingHeld,
)


@dataclass(frozen=True)
class Training:
    held_on: date
    topic: str
    # Public servants trained, per sector (health, education, social_assistance, security, ...).
    servants_trained_by_sector: Mapping[str, int]
    kind: Literal["training"] = "training"


@dataclass(frozen=True)
class ParticipationEvent:
    held_on: date
    event_kind: Literal["participatory", "cultural"]
    migrant_participants: int
    kind: Literal["participation_event"] = "participation_event"


@dataclass(frozen=True)
class InformationMaterial:
    held_on: date
    title: str
    languages: tuple[str, ...]
    kind: Literal["information_material"] = "information_material"


Activity = Training | ParticipationEvent | InformationMaterial


@dataclass(frozen=True)
class LoggedActivity:
    activity_id: str
    activity: Activity
    municipality: str
    logged_at: datetime
    event: ActivityEvent


def log_activity(activity: Activity, *, municipality: str, now: datetime, producer: str = "intake",
                 activity_id: str | None = None) -> LoggedActivity:
    """Log an activity with the event that announces it to the indicators."""
    activity_id = activity_id or str(uuid.uuid4())
    event: ActivityEvent
    common: dict[str, Any] = {"producer": producer, "occurred_at": now, "correlation_id": activity_id,
                              "activity_id": activity_id, "municipality": municipality, "held_on": activity.held_on}
    if isinstance(activity, Training):
        event = TrainingHeld(**common, topic=activity.topic,
                             servants_trained_by_sector=dict(activity.servants_trained_by_sector))
    elif isinstance(activity, ParticipationEvent):
        event = ParticipationEventHeld(**common, kind=activity.event_kind,
                                       migrant_participants=activity.migrant_participants)
    else:
        event = InformationMaterialPublished(**common, title=activity.title, languages=list(activity.languages))
    return LoggedActivity(activity_id=activity_id, activity=activity, municipality=municipality, logged_at=now,
                          event=event)
