"""intake.activities.v1 — the governance register: activities the desk logs and the municipality's governance
instruments (dimensions 1–5), key = the record's id. No personal data: titles, dates, kinds and headcounts.

The first three events announce an activity logged through the activities API. `GovernanceRecordRevised`
carries a register record's facts before and after each change (none before its creation, none after its
withdrawal), so a consumer counts a correction as "the old facts out, the new ones in" without keeping state."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

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




# --- the governance register ----------------------------------------------------------------------------------

ActivityKind = Literal[
    "training",              # of public servants (dimension 2)
    "awareness_campaign",    # for public servants, civil society or migrants
    "participatory_event",   # hearings, conferences, forums with migrants (dimension 3)
    "cultural_event",
    "information_material",  # guides, leaflets, videos, by language (dimension 4)
    "mapping_study",         # mappings and diagnostic studies of the migrant population (dimension 1)
    "network_meeting",       # meetings of the local network of services and civil society (dimension 5)
    "advocacy_action",       # advocacy before other levels of government (dimension 3)
    "project",               # projects the municipality runs or joins (dimension 1)
]
Audience = Literal["public_servants", "civil_society", "migrants"]
InstrumentKind = Literal[
    "law", "decree", "municipal_plan",   # institutional structure and local strategy (dimension 1)
    "committee", "council",              # bodies with migrant seats (dimension 3)
    "partnership_agreement",             # agreements with agencies, universities, NGOs (dimension 5)
]
Title = Annotated[str, Field(min_length=1, max_length=200)]
# Far above any real activity, and small enough for the stores' 64-bit integers and the sums metrics keeps.
Headcount = Annotated[int, Field(ge=0, le=1_000_000)]
SectorCode = Annotated[str, Field(pattern=r"^[a-z_]{2,40}$")]


class _Facts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ActivityFacts(_Facts):
    """What the register holds of an activity and metrics counts."""

    record: Literal["activity"] = "activity"
    kind: ActivityKind
    held_on: date
    title: Title
    # Who a training or campaign addressed.
    audience: Audience | None = None
    # Trainings: servants trained per sector (health, education, social_assistance, security, ...).
    servants_trained_by_sector: dict[SectorCode, Headcount] = Field(default_factory=dict, max_length=30)
    # People who took part or were reached (migrants at an event, organisations at a network meeting...).
    participants: Headcount | None = None
    # Information materials: the languages they were published in.
    languages: list[LanguageCode] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _fits_its_kind(self) -> ActivityFacts:
        if self.kind == "training" and not self.servants_trained_by_sector:
            raise ValueError("a training says how many servants it trained, per sector")
        if self.kind == "information_material" and not self.languages:
            raise ValueError("an information material says its languages")
        return self


class InstrumentFacts(_Facts):
    """A governance instrument of the municipality: a law, decree or plan, a committee or council, an agreement."""

    record: Literal["instrument"] = "instrument"
    kind: InstrumentKind
    title: Title
    # Its official reference, e.g. "Lei nº 5.123/2023".
    reference: Annotated[str, Field(max_length=120)] | None = None
    adopted_on: date
    # When it ended (repealed, dissolved, expired); None while in force.
    ends_on: date | None = None
    # Committees and councils: the seats held by migrants or their organisations.
    migrant_seats: Annotated[int, Field(ge=0, le=1000)] | None = None
    # Agreements: the other party.
    partner: Annotated[str, Field(max_length=200)] | None = None

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> InstrumentFacts:
        if self.ends_on is not None and self.ends_on < self.adopted_on:
            raise ValueError("an instrument cannot end before it was adopted")
        return self


RecordFacts = Annotated[ActivityFacts | InstrumentFacts, Field(discriminator="record")]


class GovernanceRecordRevised(Event):
    """A register record created (`before` None), corrected (both), or withdrawn (`after` None)."""

    event_type: Literal["GovernanceRecordRevised"] = "GovernanceRecordRevised"
    schema_version: Literal[1] = 1
    record_id: str = Field(min_length=1, max_length=64)
    municipality: str
    # 1 at creation, then one more per change: a consumer applies a record's revisions in this order.
    revision: int = Field(ge=1)
    before: RecordFacts | None = None
    after: RecordFacts | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> GovernanceRecordRevised:
        if self.before is None and self.after is None:
            raise ValueError("a revision has facts before it, after it, or both")
        if self.before is not None and self.after is not None and self.before.record != self.after.record:
            raise ValueError("a revision does not turn an activity into an instrument")
        return self

    def partition_key(self) -> str:
        return self.record_id


ActivitiesTopicEvent = Annotated[TrainingHeld | ParticipationEventHeld | InformationMaterialPublished
                                 | GovernanceRecordRevised, Field(discriminator="event_type")]
