"""The agency directory's rules: what an agency's details must be (types, the areas and categories it serves, the
languages it speaks, its capacity and opening hours), and what each write changes (the audit kept in the agency's
document). Pure: the rules, not the storage.

Validation collects every problem at once, each naming its field and a code (the API returns the first as a 422
naming the field, with all of them in `details`; the pages show each next to its field).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from itertools import pairwise
from typing import Any

from migradesk_referral.domain.notifications import is_email_address
from migradesk_shared.contracts.categories import CATEGORIES
from migradesk_shared.errors import DomainRuleViolation
from migradesk_shared.topics import ServiceArea


class AgencyType(StrEnum):
    """The kinds of partner agency a municipality's network has."""

    UBS = "UBS"  # Unidade Básica de Saúde
    CRAS = "CRAS"  # Centro de Referência de Assistência Social
    CREAS = "CREAS"  # … Especializado de Assistência Social
    SINE = "SINE"  # Sistema Nacional de Emprego
    SCHOOL = "school"
    DEFENSORIA = "Defensoria"  # Defensoria Pública
    CAPS = "CAPS"  # Centro de Atenção Psicossocial
    CASA_DA_MULHER_BRASILEIRA = "Casa da Mulher Brasileira"
    CONSELHO_TUTELAR = "Conselho Tutelar"
    OTHER = "other"


WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_INTERVAL = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
_AGENCY_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$")

NAME_MAX, ADDRESS_MAX, CAPACITY_MAX = 200, 300, 100_000
LANGUAGES_MAX, INTERVALS_MAX = 20, 4


class AgencyInvalid(DomainRuleViolation):
    """An agency's details the directory refuses (422): `field` names the first problem, `details.errors` all."""

    code = "invalid_agency"

    def __init__(self, problems: Mapping[str, str]) -> None:
        first = next(iter(problems))
        super().__init__(f"invalid agency {first}: {problems[first]}", field=first,
                         errors=[{"field": k, "problem": v} for k, v in problems.items()])
        self.problems = dict(problems)


# The problems, by code (the pages translate each).
MISSING, TOO_LONG, UNKNOWN, INVALID, TOO_SMALL, TOO_MANY = (
    "missing", "too_long", "unknown", "invalid", "too_small", "too_many")


@dataclass(frozen=True)
class AgencyDetails:
    """What the directory's administrator writes about an agency (everything but its id, state and counters)."""

    name: str
    type: AgencyType
    areas: tuple[ServiceArea, ...]
    categories: tuple[str, ...] | None  # None: every category of its areas
    languages: tuple[str, ...]
    address: str
    capacity: int
    # Weekday ("mon".."sun") -> opening intervals "HH:MM-HH:MM"; a weekday left out is closed.
    opening_hours: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # Where the agency is told of its escalations (overdue referrals); empty: it is not written to.
    contact_email: str = ""

    def as_fields(self) -> dict[str, Any]:
        """The details as plain values (what the audit compares and records)."""
        return {"name": self.name, "type": self.type.value, "areas": [a.value for a in self.areas],
                "categories": list(self.categories) if self.categories is not None else None,
                "languages": list(self.languages), "address": self.address, "capacity": self.capacity,
                "opening_hours": {day: list(hours) for day, hours in self.opening_hours},
                "contact_email": self.contact_email}


@dataclass(frozen=True)
class AgencyChange:
    """One write to an agency, as its audit keeps it: who, when, what (and, field by field, from what to what)."""

    actor: str
    at: datetime
    action: str  # created | edited | deactivated | activated
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)  # field -> {"from": …, "to": …}
    version: int = 1


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def parse_intervals(text: str) -> list[str] | None:
    """"08:00-12:00, 13:00-17:00" -> the intervals, normalised; None if it is not that (empty: closed)."""
    parts = [p.replace(" ", "") for p in re.split(r"[,;]", text) if p.strip()]
    return parts if all(_valid_interval(p) for p in parts) else None


def _valid_interval(interval: str) -> bool:
    found = _INTERVAL.match(interval)
    if not found:
        return False
    start, end = interval.split("-")
    return _minutes(start) < _minutes(end) <= 24 * 60


def _check_hours(opening_hours: Mapping[str, Sequence[str]], problems: dict[str, str]) -> tuple[
        tuple[str, tuple[str, ...]], ...]:
    hours: list[tuple[str, tuple[str, ...]]] = []
    for day, intervals in opening_hours.items():
        key = f"opening_hours.{day}"
        if day not in WEEKDAYS:
            problems[key] = UNKNOWN
            continue
        if len(intervals) > INTERVALS_MAX:
            problems[key] = TOO_MANY
            continue
        if not all(isinstance(i, str) and _valid_interval(i) for i in intervals):
            problems[key] = INVALID
            continue
        ordered = sorted(intervals, key=lambda i: _minutes(i.split("-")[0]))
        if any(_minutes(a.split("-")[1]) > _minutes(b.split("-")[0]) for a, b in pairwise(ordered)):
            problems[key] = INVALID  # overlapping intervals
            continue
        if ordered:
            hours.append((day, tuple(ordered)))
    return tuple(sorted(hours, key=lambda item: WEEKDAYS.index(item[0])))


def check_details(*, name: str, type: str, areas: Sequence[str], categories: Sequence[str] | None,
                  languages: Sequence[str], address: str, capacity: int | None,
                  opening_hours: Mapping[str, Sequence[str]] | None = None, contact_email: str = "",
                  known_language: Callable[[str], bool] = lambda code: True) -> AgencyDetails:
    """The details, validated; AgencyInvalid naming every field in error otherwise. `known_language`: whether an
    ISO 639 code (shaped so) is one the desk knows (the entrypoints pass the CLDR check of web.names)."""
    problems: dict[str, str] = {}
    name, address = name.strip(), address.strip()
    if not name:
        problems["name"] = MISSING
    elif len(name) > NAME_MAX:
        problems["name"] = TOO_LONG
    if type not in set(AgencyType):
        problems["type"] = UNKNOWN if type else MISSING
    served: list[ServiceArea] = []
    for area in areas:
        if area not in set(ServiceArea):
            problems["areas"] = UNKNOWN
        elif ServiceArea(area) not in served:
            served.append(ServiceArea(area))
    if not areas:
        problems["areas"] = MISSING
    kept: list[str] | None = None
    if categories:  # none given: every category of its areas
        kept = []
        for code in categories:
            known = CATEGORIES.get(code)
            if known is None:
                problems["categories"] = UNKNOWN
            elif known.area is None or known.area not in served:
                # Resolved at the desk, or of an area the agency does not serve: it would never receive it.
                problems["categories"] = INVALID
            elif code not in kept:
                kept.append(code)
    spoken: list[str] = []
    for code in languages:
        code = code.strip()
        if not code or not re.fullmatch(r"[a-z]{2,3}(-[A-Za-z]{2,4})?", code) or not known_language(code):
            problems["languages"] = UNKNOWN
        elif code not in spoken:
            spoken.append(code)
    if len(spoken) > LANGUAGES_MAX:
        problems["languages"] = TOO_MANY
    if not spoken and "languages" not in problems:
        problems["languages"] = MISSING
    if len(address) > ADDRESS_MAX:
        problems["address"] = TOO_LONG
    if capacity is None:
        problems["capacity"] = MISSING
    elif capacity < 1:
        problems["capacity"] = TOO_SMALL
    elif capacity > CAPACITY_MAX:
        problems["capacity"] = TOO_LONG
    hours = _check_hours(opening_hours or {}, problems)
    contact_email = contact_email.strip()
    if contact_email and not is_email_address(contact_email):
        problems["contact_email"] = INVALID
    if problems:
        raise AgencyInvalid(problems)
    assert capacity is not None
    return AgencyDetails(name=name, type=AgencyType(type), areas=tuple(served),
                         categories=tuple(kept) if kept else None, languages=tuple(spoken), address=address,
                         capacity=capacity, opening_hours=hours, contact_email=contact_email)


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Field -> {"from", "to"} for each field whose value differs."""
    return {key: {"from": before.get(key), "to": value} for key, value in after.items() if before.get(key) != value}


def agency_id_from(name: str) -> str:
    """A readable id from an agency's name: "CRAS Jardim Carisma" -> "cras-jardim-carisma"."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", plain).strip("-")[:90].strip("-")
    return slug or "agency"


def check_agency_id(agency_id: str) -> str:
    if not _AGENCY_ID.match(agency_id):
        raise AgencyInvalid({"agency_id": INVALID})
    return agency_id
