"""The intake API's request and response models. Validation here is what gives a 422 naming the field."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from migradesk_shared.contracts.case_events import CountryCode, LanguageCode
from migradesk_shared.contracts.categories import CATEGORIES, UnknownCategory
from migradesk_shared.contracts.vocabulary import DocumentType, LegalBasis, MigratoryStatus, Sex

Name = Annotated[str, Field(min_length=1, max_length=200)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DocumentIn(Strict):
    type: DocumentType
    number: Annotated[str, Field(min_length=3, max_length=40)]


class ConsentIn(Strict):
    legal_basis: LegalBasis
    share_with_partners: bool
    recorded_by: Annotated[str, Field(min_length=1, max_length=100)]


class PersonIn(Strict):
    full_name: Name
    birth_date: date | None = None
    sex: Sex = Sex.NOT_INFORMED
    nationality: CountryCode
    preferred_language: LanguageCode = "pt"
    migratory_status: MigratoryStatus = MigratoryStatus.OTHER
    documents: list[DocumentIn] = Field(default_factory=list, max_length=10)
    phone: Annotated[str, Field(max_length=40)] | None = None
    consent: ConsentIn

    @field_validator("birth_date")
    @classmethod
    def _not_in_future(cls, value: date | None) -> date | None:
        if value is not None and value > date.today():
            raise ValueError("birth date lies in the future")
        return value


class RequestIn(Strict):
    category: str
    description: Annotated[str, Field(max_length=2000)] | None = None

    @field_validator("category")
    @classmethod
    def _known_category(cls, value: str) -> str:
        if value not in CATEGORIES:
            raise ValueError(str(UnknownCategory(value)))
        return value


class OpenCaseIn(Strict):
    person: PersonIn
    requests: list[RequestIn] = Field(min_length=1, max_length=20)
    # Could the desk attend the person in their own language (staff or an interpreter)? Dimension 4.
    attended_in_own_language: bool | None = None
    # Staff link a returning person (found among the duplicate candidates) instead of creating a twin.
    existing_person_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None


class DuplicateCheckIn(Strict):
    full_name: Name
    birth_date: date | None = None
    nationality: CountryCode | None = None
    documents: list[DocumentIn] = Field(default_factory=list, max_length=10)


class CandidateOut(BaseModel):
    person_id: str
    score: int
    strength: str
    reasons: list[str]
    full_name: str
    birth_date: date | None
    nationality: str | None
    case_ids: list[str]


class RequestOut(BaseModel):
    request_id: str
    category: str
    service_area: str | None
    description: str | None = None


class CaseOut(BaseModel):
    case_id: str
    person_id: str
    status: str
    version: int
    opened_at: datetime
    municipality: str
    requests: list[RequestOut]
    person: dict[str, object] | None = None


Sector = Annotated[str, Field(pattern=r"^[a-z_]{2,40}$")]


class TrainingIn(Strict):
    kind: Literal["training"]
    held_on: date
    topic: Annotated[str, Field(min_length=1, max_length=200)]
    # Public servants trained, per sector (health, education, social_assistance, security, ...).
    servants_trained_by_sector: dict[Sector, Annotated[int, Field(ge=0)]] = Field(min_length=1)


class ParticipationEventIn(Strict):
    kind: Literal["participation_event"]
    held_on: date
    event_kind: Literal["participatory", "cultural"]
    migrant_participants: int = Field(ge=0)


class InformationMaterialIn(Strict):
    kind: Literal["information_material"]
    held_on: date
    title: Annotated[str, Field(min_length=1, max_length=200)]
    languages: list[LanguageCode] = Field(min_length=1, max_length=20)


ActivityIn = Annotated[TrainingIn | ParticipationEventIn | InformationMaterialIn, Field(discriminator="kind")]
