"""Sensitive personal data (LGPD art. 11): health, race/colour, gender identity, sexual orientation.

All of it is optional, and each item is recorded with its own legal basis. It stays in intake: it is never
shared with the partner agencies, and statistics see it only as de-identified facets, and only when the
person declared it on a basis that allows statistical use (see `statistical_facets`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from migradesk_shared.contracts.case_events import GenderIdentityFacet, LgbtqiaFacet, RaceColourFacet
from migradesk_shared.contracts.vocabulary import GenderIdentity, LegalBasis, RaceColour


class HealthFlag(StrEnum):
    """What the desk may need to know of a person's health to route a request well, and no more: flags
    rather than a diagnosis."""

    PREGNANT = "pregnant"
    DISABILITY = "disability"
    CHRONIC_CONDITION = "chronic_condition"
    CONTINUOUS_MEDICATION = "continuous_medication"
    MENTAL_HEALTH_SUPPORT = "mental_health_support"


class SexualOrientation(StrEnum):
    HETEROSEXUAL = "heterosexual"
    LESBIAN = "lesbian"
    GAY = "gay"
    BISEXUAL = "bisexual"
    ASEXUAL = "asexual"
    PANSEXUAL = "pansexual"
    OTHER = "other"


HEALTH_NOTE_MAX = 280

# The bases on which a declared value may also be counted, de-identified, in the desk's statistics. Consent: the
# explanation read to the person says so. A legal obligation: the law asks for the figures (race/colour in
# public services' records, Lei 14.553/2023). Public policy: monitoring a policy is part of carrying it out. Not
# the protection of life: what was recorded to protect someone serves that purpose only.
STATISTICAL_BASES = frozenset({LegalBasis.CONSENT, LegalBasis.LEGAL_OBLIGATION, LegalBasis.PUBLIC_POLICY})

V = TypeVar("V", RaceColour, GenderIdentity, SexualOrientation)


@dataclass(frozen=True)
class Declared(Generic[V]):
    """A value the person declared about themselves, and the legal basis it is held on."""

    value: V
    legal_basis: LegalBasis


@dataclass(frozen=True)
class HealthInformation:
    """Health information relevant to the person's requests: flags, and a short note for what they miss."""

    legal_basis: LegalBasis
    flags: tuple[HealthFlag, ...] = ()
    note: str | None = None

    def __post_init__(self) -> None:
        if not self.flags and not self.note:
            raise ValueError("health information holds a flag or a note")
        if self.note is not None and len(self.note) > HEALTH_NOTE_MAX:
            raise ValueError(f"the health note holds {HEALTH_NOTE_MAX} characters at most")


@dataclass(frozen=True)
class SexualOrientationDeclared(Declared[SexualOrientation]):
    """Recorded only because the person asked for it (for the protection services that serve them)."""

    at_persons_request: bool = False

    def __post_init__(self) -> None:
        if not self.at_persons_request:
            raise ValueError("sexual orientation is recorded only when the person asks for it")


@dataclass(frozen=True)
class SensitiveData:
    health: HealthInformation | None = None
    race_colour: Declared[RaceColour] | None = None
    gender_identity: Declared[GenderIdentity] | None = None
    sexual_orientation: SexualOrientationDeclared | None = None

    @property
    def empty(self) -> bool:
        return all(item is None for item in (self.health, self.race_colour, self.gender_identity,
                                             self.sexual_orientation))


NO_SENSITIVE_DATA = SensitiveData()


@dataclass(frozen=True)
class SensitiveFacets:
    race_colour: RaceColourFacet = "unknown"
    gender_identity: GenderIdentityFacet = "unknown"
    lgbtqia: LgbtqiaFacet = "unknown"


UNKNOWN_FACETS = SensitiveFacets()


def _countable(item: Declared[V] | None) -> V | None:
    return item.value if item is not None and item.legal_basis in STATISTICAL_BASES else None


_TRANS_OR_NON_BINARY = frozenset({GenderIdentity.TRANS_WOMAN, GenderIdentity.TRANS_MAN, GenderIdentity.NON_BINARY})
_CIS = frozenset({GenderIdentity.CIS_WOMAN, GenderIdentity.CIS_MAN})


def statistical_facets(sensitive: SensitiveData) -> SensitiveFacets:
    """What statistics may count of the sensitive data: a value declared on a statistical basis, else unknown
    ("prefers not to say" is unknown too). LGBTQIA+: yes when a countable gender identity is trans or
    non-binary or a countable orientation is not heterosexual; no when both are countable and say cis and
    heterosexual; unknown otherwise ("other" identities and orientations say nothing either way on their own).
    Health is never counted."""
    race = _countable(sensitive.race_colour)
    gender = _countable(sensitive.gender_identity)
    orientation = _countable(sensitive.sexual_orientation)
    lgbtqia: LgbtqiaFacet = "unknown"
    if gender in _TRANS_OR_NON_BINARY or (orientation is not None and orientation not in (
            SexualOrientation.HETEROSEXUAL, SexualOrientation.OTHER)):
        lgbtqia = "yes"
    elif gender in _CIS and orientation is SexualOrientation.HETEROSEXUAL:
        lgbtqia = "no"
    return SensitiveFacets(race_colour=_RACE_FACETS[race] if race else "unknown",
                           gender_identity=_GENDER_FACETS[gender] if gender else "unknown", lgbtqia=lgbtqia)


_RACE_FACETS: dict[RaceColour, RaceColourFacet] = {
    RaceColour.BRANCA: "branca", RaceColour.PRETA: "preta", RaceColour.PARDA: "parda",
    RaceColour.AMARELA: "amarela", RaceColour.INDIGENA: "indigena", RaceColour.PREFERS_NOT_TO_SAY: "unknown",
}
_GENDER_FACETS: dict[GenderIdentity, GenderIdentityFacet] = {
    GenderIdentity.CIS_WOMAN: "cis_woman", GenderIdentity.CIS_MAN: "cis_man",
    GenderIdentity.TRANS_WOMAN: "trans_woman", GenderIdentity.TRANS_MAN: "trans_man",
    GenderIdentity.NON_BINARY: "non_binary", GenderIdentity.OTHER: "other",
    GenderIdentity.PREFERS_NOT_TO_SAY: "unknown",
}
