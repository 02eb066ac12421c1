"""intake.person-profiles.v1 — personal data, compacted, key = person_id, RESTRICTED (intake and referral only).

The latest profile of each person is kept by compaction. Erasure (LGPD) publishes a tombstone: a null value
under the person's key, which removes the profile from the topic and makes consumers delete their copies.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from migradesk_shared.contracts.case_events import CountryCode, LanguageCode
from migradesk_shared.contracts.envelope import Event
from migradesk_shared.contracts.vocabulary import DocumentType, LegalBasis, MigratoryStatus, Sex


class IdentityDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: DocumentType
    number: Annotated[str, Field(min_length=3, max_length=40)]


class ConsentRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    legal_basis: LegalBasis
    share_with_partners: bool
    recorded_at: date
    recorded_by: str


class PersonProfileUpserted(Event):
    event_type: Literal["PersonProfileUpserted"] = "PersonProfileUpserted"
    schema_version: Literal[1] = 1
    person_id: str
    # The case whose opening shared this profile; the receiving service links the person to its referrals.
    case_id: str
    full_name: str
    birth_date: date | None = None
    sex: Sex = Sex.NOT_INFORMED
    nationality: CountryCode | None = None
    languages: list[LanguageCode] = Field(default_factory=list)
    migratory_status: MigratoryStatus = MigratoryStatus.OTHER
    documents: list[IdentityDocument] = Field(default_factory=list)
    phone: str | None = None
    consent: ConsentRecord

    def partition_key(self) -> str:
        return self.person_id
