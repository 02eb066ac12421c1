"""Duplicate candidates at registration: is this the same person as someone already registered?

Names are compared after normalising (accents, case, spacing, name particles) and by a phonetic key that
absorbs the spelling variants common at a desk that writes Spanish, French and Haitian Creole names in
Portuguese (ç/s/z, y/i, ph/f, doubled letters, silent h). Documents match exactly after removing
punctuation. Each candidate comes with the reasons that make it one.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

import jellyfish

from migradesk_intake.domain.person import Person, RegisteredPerson
from migradesk_shared.contracts.vocabulary import DocumentType

PARTICLES = frozenset({"da", "de", "do", "das", "dos", "del", "la", "las", "los", "y", "e", "van", "von", "di"})


def strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def normalise_name(name: str) -> str:
    """'  JOSÉ da  Silva ' -> 'jose da silva'."""
    cleaned = re.sub(r"[^a-z ]+", " ", strip_accents(name).lower())
    return " ".join(cleaned.split())


def _respell(token: str) -> str:
    # Iberian/Creole spellings of the same sounds, before an English-trained phonetic algorithm sees them.
    token = token.replace("ph", "f").replace("th", "t").replace("ch", "x").replace("sh", "x").replace("lh", "li")
    token = token.replace("nh", "ni").replace("ll", "li").replace("y", "i").replace("w", "v").replace("z", "s")
    token = token.replace("c", "k") if re.fullmatch(r"c[aou].*", token) else token
    token = re.sub(r"^h", "", token)
    return re.sub(r"(.)\1+", r"\1", token)


def phonetic_key(name: str) -> str:
    tokens = [t for t in normalise_name(name).split() if t not in PARTICLES]
    return " ".join(jellyfish.metaphone(_respell(t)) for t in tokens)


def normalise_document(number: str) -> str:
    return re.sub(r"[^0-9A-Z]", "", strip_accents(number).upper())


@dataclass(frozen=True)
class PersonRecord:
    person_id: str
    full_name: str
    birth_date: date | None = None
    nationality: str | None = None
    documents: tuple[tuple[DocumentType, str], ...] = ()


def person_record(person_id: str, person: Person) -> PersonRecord:
    return PersonRecord(person_id=person_id, full_name=person.full_name, birth_date=person.birth_date,
                        nationality=person.nationality, documents=tuple((d.type, d.number) for d in person.documents))


def match_keys(person: PersonRecord) -> list[str]:
    """The look-up keys a registered person is found by: the sound of the name, the birth date, each document.
    Every candidate shares at least one of them with the person being checked (see score_pair)."""
    keys = [f"name:{phonetic_key(person.full_name)}"]
    if person.birth_date:
        keys.append(f"born:{person.birth_date.isoformat()}")
    keys += [f"doc:{doc_type.value}:{normalise_document(number)}" for doc_type, number in person.documents]
    return keys


class Strength(StrEnum):
    STRONG = "strong"  # same document: almost certainly the same person
    PROBABLE = "probable"  # same name (or sound of it) and birth date
    POSSIBLE = "possible"  # similar name and something else in common


@dataclass(frozen=True)
class Candidate:
    person_id: str
    score: int
    strength: Strength
    reasons: tuple[str, ...] = field(default=())
    # The same reasons as stable codes, in the same order, for pages that say them in their own language:
    # same_document:<type>, same_name, name_sounds_same, similar_name, same_birth_date, same_nationality.
    codes: tuple[str, ...] = field(default=())


def score_pair(new: PersonRecord, existing: PersonRecord) -> Candidate | None:
    reasons: list[str] = []
    codes: list[str] = []
    score = 0
    new_docs = {(t, normalise_document(n)) for t, n in new.documents}
    for doc_type, number in existing.documents:
        if (doc_type, normalise_document(number)) in new_docs:
            reasons.append(f"same {doc_type.value} number")
            codes.append(f"same_document:{doc_type.value}")
            score = max(score, 100)
    same_birth = new.birth_date is not None and new.birth_date == existing.birth_date
    norm_new, norm_old = normalise_name(new.full_name), normalise_name(existing.full_name)
    if norm_new and norm_new == norm_old:
        reasons.append("same name (ignoring accents, case and spacing)")
        codes.append("same_name")
        name_score = 60
    elif phonetic_key(new.full_name) and phonetic_key(new.full_name) == phonetic_key(existing.full_name):
        reasons.append("names sound the same")
        codes.append("name_sounds_same")
        name_score = 50
    else:
        similarity = jellyfish.jaro_winkler_similarity(norm_new, norm_old)
        name_score = 35 if similarity >= 0.9 else 0
        if name_score:
            reasons.append(f"similar names ({similarity:.2f})")
            codes.append("similar_name")
    if name_score:
        if same_birth:
            reasons.append("same birth date")
            codes.append("same_birth_date")
            name_score += 30
        if new.nationality and new.nationality == existing.nationality:
            reasons.append("same nationality")
            codes.append("same_nationality")
            name_score += 5
        score = max(score, name_score)
    if score < 65:
        return None
    strength = Strength.STRONG if score >= 100 else Strength.PROBABLE if score >= 85 else Strength.POSSIBLE
    return Candidate(existing.person_id, min(score, 100), strength, tuple(reasons), tuple(codes))


def find_candidates(new: PersonRecord, registered: Iterable[PersonRecord], limit: int = 10) -> list[Candidate]:
    """Ranked candidates (best first) among already registered people, each with its reasons."""
    found = [c for c in (score_pair(new, old) for old in registered if old.person_id != new.person_id) if c]
    return sorted(found, key=lambda c: (-c.score, c.person_id))[:limit]


@dataclass(frozen=True)
class DuplicateCandidate:
    """A registered person who may be the one at the desk, with the cases they were registered in."""

    candidate: Candidate
    person: PersonRecord
    case_ids: tuple[str, ...]


def candidates_among_people(new: PersonRecord, registered: Iterable[RegisteredPerson],
                            limit: int = 10) -> list[DuplicateCandidate]:
    """Ranked candidates among registered people (erased people are no one's twin)."""
    people = {r.person_id: r for r in registered if r.person is not None}
    records = [person_record(r.person_id, r.person) for r in people.values() if r.person is not None]
    return [DuplicateCandidate(candidate=c, person=next(p for p in records if p.person_id == c.person_id),
                               case_ids=people[c.person_id].case_ids)
            for c in find_candidates(new, records, limit=limit)]
