"""intake.case-events.v1 — de-identified case events, key = case_id. No names, documents, contacts or notes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from migradesk_shared.contracts.envelope import Event
from migradesk_shared.contracts.vocabulary import MigratoryStatus, Sex
from migradesk_shared.topics import ServiceArea

LanguageCode = Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$", max_length=12)]
CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 3166-1 alpha-3")]

# The facets of sensitive data (LGPD art. 11): a value only when the person declared it on a legal basis that
# allows de-identified statistics; "unknown" otherwise (not asked, not declared, or preferred not to say).
RaceColourFacet = Literal["branca", "preta", "parda", "amarela", "indigena", "unknown"]
GenderIdentityFacet = Literal["cis_woman", "cis_man", "trans_woman", "trans_man", "non_binary", "other", "unknown"]
LgbtqiaFacet = Literal["yes", "no", "unknown"]


class PersonFacets(BaseModel):
    """What statistics may know about a person: never enough to identify them on its own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    nationality: CountryCode | None = None
    sex: Sex = Sex.NOT_INFORMED
    age_band: str = "unknown"
    migratory_status: MigratoryStatus = MigratoryStatus.OTHER
    language: LanguageCode = "pt"
    # MigraCidades dimension 10 (gender, LGBTQIA+ and racial equality). Added after version 1 with defaults, so
    # events written before them still read.
    race_colour: RaceColourFacet = "unknown"
    gender_identity: GenderIdentityFacet = "unknown"
    lgbtqia: LgbtqiaFacet = "unknown"


class CaseOpened(Event):
    event_type: Literal["CaseOpened"] = "CaseOpened"
    schema_version: Literal[1] = 1
    case_id: str
    municipality: str
    facets: PersonFacets
    # Whether the desk could attend the person in their own language (MigraCidades dimension 4).
    attended_in_own_language: bool | None = None

    def partition_key(self) -> str:
        return self.case_id


class RequestLogged(Event):
    event_type: Literal["RequestLogged"] = "RequestLogged"
    schema_version: Literal[1] = 1
    case_id: str
    request_id: str
    category: str
    # None when the request is resolved at the desk (documentation, legal orientation).
    service_area: ServiceArea | None
    municipality: str
    facets: PersonFacets

    def partition_key(self) -> str:
        return self.case_id


CaseEvent = Annotated[CaseOpened | RequestLogged, Field(discriminator="event_type")]
