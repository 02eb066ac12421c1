"""Commands, a clock, a relay probe and cheap password hashing shared by the intake service tests."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher, profiles

from migradesk_intake.adapters.passwords import Argon2Passwords
from migradesk_intake.domain.person import ConsentGiven, Document, Person
from migradesk_intake.domain.sensitive import (
    Declared,
    HealthFlag,
    HealthInformation,
    SensitiveData,
    SexualOrientation,
    SexualOrientationDeclared,
)
from migradesk_intake.service import OpenCase
from migradesk_shared.contracts.vocabulary import (
    DocumentType,
    GenderIdentity,
    LegalBasis,
    MigratoryStatus,
    RaceColour,
    Sex,
)

TOWN = "Dourados-MS"
# What an administrator records when erasing someone's data.
ERASURE_REASON = "Data subject's request under LGPD art. 18, VI"
CASE_TOPIC, PROFILE_TOPIC, ACTIVITY_TOPIC = "intake.case-events.v1", "intake.person-profiles.v1", "intake.activities.v1"


@dataclass
class Clock:
    """A second later at every reading, in whole milliseconds (what the store keeps), so "newest" is defined."""

    now: datetime = datetime(2026, 11, 22, 15, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@dataclass
class RelayCalls:
    """Stands in for the relay's wake-up (runtime.written): which documents were written with events."""

    calls: list[tuple[str, Any]] = field(default_factory=list)

    def __call__(self, collection: str, doc_id: Any) -> None:
        self.calls.append((collection, doc_id))


SHARING = ConsentGiven(legal_basis=LegalBasis.CONSENT, share_with_partners=True, recorded_by="ana")
NOT_SHARING = replace(SHARING, share_with_partners=False)

DANIELA = Person(full_name="Daniela Suárez", nationality="VEN", consent=SHARING, birth_date=date(1990, 5, 4),
                 sex=Sex.FEMALE, preferred_language="es", migratory_status=MigratoryStatus.REFUGEE,
                 documents=(Document(DocumentType.RNM, "V123456-A"),), phone="+5567999990000",
                 languages=("pt",))
# A person as the registration form takes them down in full: several languages and documents, sensitive data
# each on its own legal basis.
WILNER = Person(
    full_name="Wilner Joseph", nationality="HTI", consent=SHARING, birth_date=date(1988, 3, 14), sex=Sex.MALE,
    preferred_language="ht", languages=("fr", "es"), migratory_status=MigratoryStatus.HUMANITARIAN_RECEPTION,
    documents=(Document(DocumentType.CPF, "52998224725"), Document(DocumentType.PASSPORT, "HT1234567")),
    phone="+50934567890",
    sensitive=SensitiveData(
        health=HealthInformation(LegalBasis.CONSENT, flags=(HealthFlag.CONTINUOUS_MEDICATION,), note="insulin"),
        race_colour=Declared(RaceColour.PRETA, LegalBasis.LEGAL_OBLIGATION),
        gender_identity=Declared(GenderIdentity.TRANS_WOMAN, LegalBasis.LIFE_PROTECTION),
        sexual_orientation=SexualOrientationDeclared(SexualOrientation.BISEXUAL, LegalBasis.CONSENT,
                                                     at_persons_request=True)))


def open_case(person: Person = DANIELA, *categories: str, **options: Any) -> OpenCase:
    requests = tuple((c, f"note about {c}") for c in categories or ("sus_card",))
    return OpenCase(person=person, requests=requests, actor=options.pop("actor", "ana"), **options)


def cheap_passwords() -> Argon2Passwords:
    """Argon2 with the cheapest parameters: the same code path, without a quarter second per hash."""
    return Argon2Passwords(PasswordHasher.from_parameters(profiles.CHEAPEST))


def as_registered(person: Person, at: datetime) -> Person:
    """The person as their record keeps them: the consent given at the visit is dated by it."""
    return replace(person, consent=replace(person.consent, recorded_at=at))
