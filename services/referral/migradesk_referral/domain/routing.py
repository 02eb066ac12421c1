"""Routing: which partner agency receives a request of a given service area."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from migradesk_shared.topics import ServiceArea


@dataclass(frozen=True)
class AgencyCandidate:
    agency_id: str
    areas: frozenset[ServiceArea]
    languages: frozenset[str]
    active: bool
    open_referrals: int = 0
    # Some agencies take only some categories of their area (a CAPS takes mental health, not SUS cards).
    categories: frozenset[str] | None = None
    # How many open referrals it can hold; None: no limit recorded.
    capacity: int | None = None

    def takes(self, area: ServiceArea, category: str | None) -> bool:
        return area in self.areas and (self.categories is None or category is None or category in self.categories)

    @property
    def full(self) -> bool:
        return self.capacity is not None and self.open_referrals >= self.capacity


@dataclass(frozen=True)
class Agency:
    """A partner agency of the directory, as the desk lists it."""

    agency_id: str
    name: str
    type: str
    areas: tuple[ServiceArea, ...]
    languages: tuple[str, ...] = ()
    address: str = ""
    capacity: int | None = None
    active: bool = True
    categories: tuple[str, ...] | None = None
    # Kept by every referral write; it may drift by one after a crash until it is recounted.
    open_referrals: int = 0
    # Weekday ("mon".."sun") -> opening intervals "HH:MM-HH:MM" (domain.directory checks them).
    opening_hours: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # Where the agency is told of its escalations; empty: it is not written to.
    contact_email: str = ""
    # Each write to the agency (directory administration) increments it; an edit over a stale one is refused.
    version: int = 1
    # Who changed what and when, oldest first (domain.directory.AgencyChange as plain values).
    audit: tuple[dict[str, Any], ...] = ()

    def candidate(self) -> AgencyCandidate:
        return AgencyCandidate(agency_id=self.agency_id, areas=frozenset(self.areas),
                               languages=frozenset(self.languages), active=self.active,
                               open_referrals=max(self.open_referrals, 0),
                               categories=frozenset(self.categories) if self.categories else None,
                               capacity=self.capacity)


@dataclass(frozen=True)
class RoutingDecision:
    agency_id: str | None
    reason: str

    @property
    def needs_manual_routing(self) -> bool:
        return self.agency_id is None


def _base_language(code: str) -> str:
    return code.split("-", 1)[0].lower()


def choose_agency(area: ServiceArea, language: str, agencies: Iterable[AgencyCandidate],
                  declined_by: Collection[str] = (), category: str | None = None) -> RoutingDecision:
    """Eligible: active, serving the area (and category), not full (its open referrals below its capacity), and
    not an agency that already declined this request. Preferred: one that speaks the person's language; then the
    fewest open referrals; ties by id (stable). None eligible: manual routing, saying why."""
    serving = [a for a in agencies if a.active and a.takes(area, category) and a.agency_id not in declined_by]
    eligible = [a for a in serving if not a.full]
    if not eligible:
        if serving:
            reason = f"every active agency serving {area.value} is full"
        elif declined_by:
            reason = f"every active agency serving {area.value} has declined this request"
        else:
            reason = f"no active agency serves {area.value}"
        return RoutingDecision(None, reason)
    lang = _base_language(language)
    best = min(eligible, key=lambda a: (lang not in {_base_language(x) for x in a.languages},
                                        a.open_referrals, a.agency_id))
    speaks = lang in {_base_language(x) for x in best.languages}
    return RoutingDecision(best.agency_id, f"serves {area.value}" + (f", speaks {lang}" if speaks else "")
                           + f", {best.open_referrals} open referrals")
