"""Person, consent and the de-identified facets that may leave intake for statistics."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import date, datetime

from migradesk_intake.domain.sensitive import NO_SENSITIVE_DATA, SensitiveData
from migradesk_shared.contracts.vocabulary import DocumentType, LegalBasis, MigratoryStatus, Sex


@dataclass(frozen=True)
class Consent:
    """The consent record taken at the desk (LGPD): on which legal basis data is held, and whether the person
    agreed to have it shared with the partner agencies that serve them."""

    legal_basis: LegalBasis
    share_with_partners: bool
    recorded_on: date
    recorded_by: str

    def allows_sharing_with_partners(self) -> bool:
        """Personal data go to the partner agencies only when sharing was chosen explicitly: under consent, the
        person agreed; under another basis (a legal obligation, public policy, protection of life), staff
        decided that basis covers it. Never by default, whatever the basis."""
        return self.share_with_partners


@dataclass(frozen=True)
class ConsentGiven:
    """What the person agreed to (or on which other basis the desk holds their data), as the desk wrote it down.
    Given at a visit, it is dated by its case (`recorded_at` None); changed later, by the change."""

    legal_basis: LegalBasis
    share_with_partners: bool
    recorded_by: str
    recorded_at: datetime | None = None

    def on(self, day: date) -> Consent:
        when = self.recorded_at.date() if self.recorded_at is not None else day
        return Consent(legal_basis=self.legal_basis, share_with_partners=self.share_with_partners,
                       recorded_on=when, recorded_by=self.recorded_by)

    def allows_sharing_with_partners(self) -> bool:
        return self.share_with_partners


@dataclass(frozen=True)
class Document:
    type: DocumentType
    number: str


@dataclass(frozen=True)
class Person:
    """The person as registered at the desk. Personal data: it stays in intake, and goes to the partner agencies
    only as the consent allows (see case.shared_profiles)."""

    full_name: str
    nationality: str
    consent: ConsentGiven
    birth_date: date | None = None
    sex: Sex = Sex.NOT_INFORMED
    preferred_language: str = "pt"
    migratory_status: MigratoryStatus = MigratoryStatus.OTHER
    documents: tuple[Document, ...] = ()
    phone: str | None = None
    # Every language the person speaks: always the preferred one first, then the others as given, each once.
    languages: tuple[str, ...] = ()
    sensitive: SensitiveData = NO_SENSITIVE_DATA
    # The consents this one replaced, oldest first (LGPD: the desk must be able to show what was agreed when).
    consent_history: tuple[ConsentGiven, ...] = ()

    def __post_init__(self) -> None:
        # A record from before the languages were taken down has only the preferred one.
        object.__setattr__(self, "languages", tuple(dict.fromkeys((self.preferred_language, *self.languages))))

    def with_consent(self, consent: ConsentGiven) -> Person:
        return replace(self, consent=consent, consent_history=(*self.consent_history, self.consent))


# What a correction may change, by the names the pages and the API give them (consent has its own route, and its
# history is never rewritten).
CORRECTABLE_FIELDS: tuple[str, ...] = tuple(
    f.name for f in fields(Person) if f.name not in {"consent", "consent_history"})


def changed_fields(before: Person, after: Person) -> tuple[str, ...]:
    """The fields of the person that differ, in the record's order."""
    return tuple(f.name for f in fields(Person) if getattr(before, f.name) != getattr(after, f.name))


def corrected(person: Person, correction: Person) -> Person:
    """The person with the correctable fields of `correction`; the consent and its history stay as they are."""
    return replace(correction, consent=person.consent, consent_history=person.consent_history)


@dataclass(frozen=True)
class PersonChange:
    """One write of a person's record: which version it made, when, by whom, and which fields it changed (the
    names only: the values before are not kept, so an erasure leaves nothing of them)."""

    version: int
    at: datetime
    by: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class RegisteredPerson:
    """A person's own record, one for all their visits: the data the desk corrects in one place, its version
    (every write of the person's data makes a new one, so a page that edits an older one is refused, not
    silently overwritten), their cases (oldest first) and what changed when."""

    person_id: str
    person: Person | None  # None once erased
    version: int
    case_ids: tuple[str, ...] = ()
    changes: tuple[PersonChange, ...] = ()
    erased_at: datetime | None = None
    registered_at: datetime | None = None

    @property
    def erased(self) -> bool:
        return self.person is None

    def changed_since(self, version: int) -> tuple[str, ...]:
        """The fields written after `version`, each once, in the order they were first changed."""
        names = (name for change in self.changes if change.version > version for name in change.fields)
        return tuple(dict.fromkeys(names))


AGE_BANDS: tuple[tuple[int, int | None, str], ...] = (
    (0, 11, "0-11"),
    (12, 17, "12-17"),
    (18, 29, "18-29"),
    (30, 59, "30-59"),
    (60, None, "60+"),
)


def age_on(birth_date: date, on: date) -> int:
    years = on.year - birth_date.year
    if (on.month, on.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def age_band(birth_date: date | None, on: date) -> str:
    """The published age band; 'unknown' when no birth date was given or it lies in the future."""
    if birth_date is None or birth_date > on:
        return "unknown"
    age = age_on(birth_date, on)
    for low, high, label in AGE_BANDS:
        if age >= low and (high is None or age <= high):
            return label
    return "unknown"
