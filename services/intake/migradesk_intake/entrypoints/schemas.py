"""The intake API's request and response models. Validation here is what gives a 422 naming the field."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from migradesk_intake.domain.case import CaseOutcome
from migradesk_intake.domain.contact import PhoneFormatError, normalise_phone
from migradesk_intake.domain.documents import DocumentFormatError, normalise_document
from migradesk_intake.domain.sensitive import HEALTH_NOTE_MAX, HealthFlag, SexualOrientation
from migradesk_shared.contracts.case_events import CountryCode, LanguageCode
from migradesk_shared.contracts.categories import CATEGORIES, UnknownCategory
from migradesk_shared.contracts.vocabulary import (
    DocumentType,
    GenderIdentity,
    LegalBasis,
    MigratoryStatus,
    RaceColour,
    Sex,
)
from migradesk_shared.web.names import is_country_code, is_language_code

Name = Annotated[str, Field(min_length=1, max_length=200)]
StaffName = Annotated[str, Field(min_length=1, max_length=100)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _known_country(code: str) -> str:
    if not is_country_code(code):
        raise PydanticCustomError("country_unknown", "not an ISO 3166-1 alpha-3 country code: {code}", {"code": code})
    return code


def _known_language(code: str) -> str:
    if not is_language_code(code):
        raise PydanticCustomError("language_unknown", "not an ISO 639 language code: {code}", {"code": code})
    return code


Country = Annotated[CountryCode, AfterValidator(_known_country)]
Language = Annotated[LanguageCode, AfterValidator(_known_language)]


class DocumentIn(Strict):
    """A document's number in its type's format (domain.documents); stored normalised."""

    type: DocumentType
    number: Annotated[str, Field(min_length=3, max_length=40)]

    @field_validator("number")
    @classmethod
    def _in_its_format(cls, value: str, info: ValidationInfo) -> str:
        document_type = info.data.get("type")
        if document_type is None:  # the type itself is wrong: that error says enough
            return value
        try:
            return normalise_document(document_type, value)
        except DocumentFormatError as exc:
            raise PydanticCustomError(exc.kind, exc.message) from None


class ConsentIn(Strict):
    """No default anywhere: staff choose the legal basis and whether the partner agencies get the data."""

    legal_basis: LegalBasis
    share_with_partners: bool
    recorded_by: StaffName


class HealthIn(Strict):
    legal_basis: LegalBasis
    flags: list[HealthFlag] = Field(default_factory=list, max_length=len(HealthFlag))
    note: Annotated[str, Field(max_length=HEALTH_NOTE_MAX)] | None = None

    @model_validator(mode="after")
    def _says_something(self) -> HealthIn:
        if not self.flags and not self.note:
            raise PydanticCustomError("health_empty", "health information needs a flag or a note")
        return self


class RaceColourIn(Strict):
    value: RaceColour
    legal_basis: LegalBasis


class GenderIdentityIn(Strict):
    value: GenderIdentity
    legal_basis: LegalBasis


class SexualOrientationIn(Strict):
    value: SexualOrientation
    legal_basis: LegalBasis
    # Recorded only because the person asks for it (for the protection services that serve them).
    recorded_at_persons_request: Literal[True]


class SensitiveIn(Strict):
    """LGPD art. 11 data, all optional; each item given needs its own legal basis."""

    health: HealthIn | None = None
    race_colour: RaceColourIn | None = None
    gender_identity: GenderIdentityIn | None = None
    sexual_orientation: SexualOrientationIn | None = None


class PersonDataIn(Strict):
    """The person's data as the desk takes it down or corrects it (the consent has its own route once given)."""

    full_name: Name
    birth_date: date | None = None
    sex: Sex = Sex.NOT_INFORMED
    nationality: Country
    preferred_language: Language = "pt"
    # Every language the person speaks; the preferred one is added (first) if missing.
    languages: list[Language] = Field(default_factory=list, max_length=10)
    migratory_status: MigratoryStatus = MigratoryStatus.OTHER
    documents: list[DocumentIn] = Field(default_factory=list, max_length=10)
    # Stored in E.164 (+5567999990000); a number without a country code is Brazilian.
    phone: Annotated[str, Field(max_length=40)] | None = None
    sensitive: SensitiveIn | None = None

    @field_validator("phone")
    @classmethod
    def _plausible_phone(cls, value: str | None) -> str | None:
        if not value:
            return None
        try:
            return normalise_phone(value)
        except PhoneFormatError as exc:
            raise PydanticCustomError(exc.kind, exc.message) from None

    @field_validator("birth_date")
    @classmethod
    def _not_in_future(cls, value: date | None) -> date | None:
        if value is not None and value > date.today():
            raise ValueError("birth date lies in the future")
        return value


class PersonIn(PersonDataIn):
    consent: ConsentIn


class PersonCorrectionIn(Strict):
    """A correction of a person's data over the version the page showed (409 if someone changed it since)."""

    version: int = Field(ge=1)
    person: PersonDataIn


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
    """A visit: a new person, or a registered one who returned (`existing_person_id`, found among the duplicate
    candidates or by search), whose record stays as it is (corrections go through PATCH /api/persons/{id})."""

    # Declared before `person`, whose check reads it.
    existing_person_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    person: Annotated[PersonIn | None, Field(validate_default=True)] = None
    requests: list[RequestIn] = Field(min_length=1, max_length=20)
    # Could the desk attend the person in their own language (staff or an interpreter)? Dimension 4.
    attended_in_own_language: bool | None = None

    @field_validator("person")
    @classmethod
    def _one_person(cls, value: PersonIn | None, info: ValidationInfo) -> PersonIn | None:
        linked = info.data.get("existing_person_id") is not None
        if value is None and not linked:
            raise PydanticCustomError("missing", "give the person, or existing_person_id (a registered person)")
        if value is not None and linked:
            raise PydanticCustomError("person_and_existing", "give the person or existing_person_id, not both: a "
                                      "returning person's record is corrected with PATCH /api/persons/{id}")
        return value


class NoteIn(Strict):
    text: Annotated[str, Field(min_length=1, max_length=4000)]


class FollowUpIn(Strict):
    text: Annotated[str, Field(min_length=1, max_length=500)]
    due_on: date


class CloseCaseIn(Strict):
    outcome: CaseOutcome
    version: int = Field(ge=1)


class ReopenCaseIn(Strict):
    version: int = Field(ge=1)


class ErasureIn(Strict):
    """Why a person's data are erased, recorded in the access log with who erased them and when: a data subject's
    request (LGPD art. 18), the end of a legal basis... Say it in terms of the request, not of the person."""

    reason: str = Field(min_length=10, max_length=500)
    # The request's own reference, e.g. the protocol number the city gave the data subject.
    request_reference: str | None = Field(default=None, min_length=1, max_length=100)


class ConsentChangeIn(Strict):
    """A new consent for a registered person. Withdrawing the sharing removes the partner agencies' copy."""

    legal_basis: LegalBasis
    share_with_partners: bool
    # Who recorded it: the staff member signed in, unless another is named.
    recorded_by: StaffName | None = None


class ConsentOut(BaseModel):
    legal_basis: str
    share_with_partners: bool
    recorded_by: str
    recorded_at: datetime


class ConsentChangeOut(BaseModel):
    person_id: str
    consent: ConsentOut
    shared_with_partners: bool
    cases_updated: int


class DuplicateCheckIn(Strict):
    full_name: Name
    birth_date: date | None = None
    nationality: Country | None = None
    documents: list[DocumentIn] = Field(default_factory=list, max_length=10)


class CandidateOut(BaseModel):
    person_id: str
    score: int
    strength: str
    reasons: list[str]  # in English, for people reading the API
    reason_codes: list[str]  # the same reasons, in the same order, as codes (domain/duplicates.py's Candidate)
    full_name: str
    birth_date: date | None
    nationality: str | None
    case_ids: list[str]  # oldest first: the last one is their latest visit


class RequestOut(BaseModel):
    request_id: str
    category: str
    service_area: str | None
    description: str | None = None


class ReferralStatusOut(BaseModel):
    """A referral's live status as the referral service reported it (de-identified)."""

    referral_id: str
    request_id: str | None
    agency_id: str | None  # None while no agency could be chosen (needs manual routing)
    service_area: str
    status: str
    status_at: datetime


class NoteOut(BaseModel):
    note_id: str
    text: str
    at: datetime
    by: str


class FollowUpOut(BaseModel):
    follow_up_id: str
    text: str
    due_on: date
    at: datetime
    by: str
    done_at: datetime | None = None
    done_by: str | None = None


class WriteOut(BaseModel):
    """An entry of a case's timeline: who did what, when, to which part."""

    actor: str
    action: str
    at: datetime
    subject: str | None = None


class CaseOut(BaseModel):
    case_id: str
    person_id: str
    status: str
    version: int
    opened_at: datetime
    municipality: str
    requests: list[RequestOut]
    person: dict[str, object] | None = None
    referrals: list[ReferralStatusOut] = Field(default_factory=list)
    assigned_to: str = ""
    notes: list[NoteOut] = Field(default_factory=list)
    follow_ups: list[FollowUpOut] = Field(default_factory=list)
    outcome: str | None = None
    closed_at: datetime | None = None
    timeline: list[WriteOut] = Field(default_factory=list)


class PersonChangeOut(BaseModel):
    version: int
    at: datetime
    by: str
    fields: list[str]


class PersonOut(BaseModel):
    person_id: str
    version: int
    person: dict[str, object]
    case_ids: list[str]
    changes: list[PersonChangeOut]


Sector = Annotated[str, Field(pattern=r"^[a-z_]{2,40}$")]
# A headcount of an activity: far above any real training or event, and small enough that the stores' 64-bit
# integers hold it, and the sums metrics keeps of them (an unbounded one was a 500 when stored, and a metrics
# consumer failing on the event).
HEADCOUNT_MAX = 1_000_000
Headcount = Annotated[int, Field(ge=0, le=HEADCOUNT_MAX)]


class TrainingIn(Strict):
    kind: Literal["training"]
    held_on: date
    topic: Annotated[str, Field(min_length=1, max_length=200)]
    # Public servants trained, per sector (health, education, social_assistance, security, ...).
    servants_trained_by_sector: dict[Sector, Headcount] = Field(min_length=1, max_length=30)


class ParticipationEventIn(Strict):
    kind: Literal["participation_event"]
    held_on: date
    event_kind: Literal["participatory", "cultural"]
    migrant_participants: Headcount


class InformationMaterialIn(Strict):
    kind: Literal["information_material"]
    held_on: date
    title: Annotated[str, Field(min_length=1, max_length=200)]
    languages: list[LanguageCode] = Field(min_length=1, max_length=20)


ActivityIn = Annotated[TrainingIn | ParticipationEventIn | InformationMaterialIn, Field(discriminator="kind")]


class WorklistCaseOut(BaseModel):
    case_id: str
    person_id: str
    full_name: str | None  # None once the person was erased
    opened_at: datetime
    status: str
    service_areas: list[str]
    assigned_to: str
    overdue: bool


class WorklistOut(BaseModel):
    cases: list[WorklistCaseOut]
    total: int
    total_is_exact: bool
    # Pass as `after` for the next page; None on the last one.
    next: str | None


class FoundPersonOut(BaseModel):
    person_id: str
    full_name: str
    birth_date: date | None
    score: int
    reasons: list[str]
    case_ids: list[str]


class PeopleOut(BaseModel):
    people: list[FoundPersonOut]
    next: str | None
