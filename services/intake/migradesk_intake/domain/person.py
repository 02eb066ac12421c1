"""Person, consent and the de-identified facets that may leave intake for statistics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

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
        """Personal data may go to a partner agency when the person agreed, or when the law itself is the basis
        (public policy execution, protection of life) — never by default under plain consent."""
        if self.legal_basis is LegalBasis.CONSENT:
            return self.share_with_partners
        return True


@dataclass(frozen=True)
class ConsentGiven:
    """What the person agreed to, as the desk wrote it down; it is dated by the case it was given in."""

    legal_basis: LegalBasis
    share_with_partners: bool
    recorded_by: str

    def on(self, day: date) -> Consent:
        return Consent(legal_basis=self.legal_basis, share_with_partners=self.share_with_partners,
                       recorded_on=day, recorded_by=self.recorded_by)


@dataclass(frozen=True)
class Document:
    type: DocumentType
    number: str


@dataclass(frozen=True)
class Person:
    """The person as registered at the desk. Personal data: it stays in intake, and goes to the partner agencies
    only as the consent allows (see case.partner_profile)."""

    full_name: str
    nationality: str
    consent: ConsentGiven
    birth_date: date | None = None
    sex: Sex = Sex.NOT_INFORMED
    preferred_language: str = "pt"
    migratory_status: MigratoryStatus = MigratoryStatus.OTHER
    documents: tuple[Document, ...] = ()
    phone: str | None = None


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
