"""Cases and requests: opening a case produces its state and the events that announce it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from migradesk_intake.domain.person import age_band
from migradesk_shared.contracts.case_events import CaseOpened, PersonFacets, RequestLogged
from migradesk_shared.contracts.categories import area_of
from migradesk_shared.contracts.vocabulary import MigratoryStatus, Sex
from migradesk_shared.topics import ServiceArea


class CaseStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class LoggedRequest:
    request_id: str
    category: str
    service_area: ServiceArea | None
    description: str | None = None

    @property
    def resolved_at_desk(self) -> bool:
        return self.service_area is None


@dataclass(frozen=True)
class FacetSource:
    """The few person attributes statistics may see, taken from the full (PII) profile."""

    nationality: str | None
    sex: Sex
    birth_date: date | None
    migratory_status: MigratoryStatus
    language: str

    def facets(self, on: date) -> PersonFacets:
        return PersonFacets(nationality=self.nationality, sex=self.sex, age_band=age_band(self.birth_date, on),
                            migratory_status=self.migratory_status, language=self.language)


@dataclass(frozen=True)
class OpenedCase:
    case_id: str
    person_id: str
    opened_at: datetime
    municipality: str
    requests: tuple[LoggedRequest, ...]
    events: tuple[CaseOpened | RequestLogged, ...] = field(default=())
    status: CaseStatus = CaseStatus.OPEN
    version: int = 1


def open_case(*, person_id: str, facet_source: FacetSource, requests: list[tuple[str, str | None]],
              municipality: str, now: datetime, producer: str = "intake",
              case_id: str | None = None, attended_in_own_language: bool | None = None) -> OpenedCase:
    """Open a case with its requests; `requests` holds (category, description) pairs.
    Raises UnknownCategory for a category outside the table."""
    if not requests:
        raise ValueError("a case needs at least one request")
    case_id = case_id or str(uuid.uuid4())
    logged = tuple(LoggedRequest(str(uuid.uuid4()), cat, area_of(cat), desc) for cat, desc in requests)
    facets = facet_source.facets(now.date())
    opened = CaseOpened(producer=producer, occurred_at=now, correlation_id=case_id, case_id=case_id,
                        municipality=municipality, facets=facets, attended_in_own_language=attended_in_own_language)
    events: list[CaseOpened | RequestLogged] = [opened]
    for req in logged:
        events.append(RequestLogged(producer=producer, occurred_at=now, correlation_id=case_id,
                                    causation_id=opened.event_id, case_id=case_id, request_id=req.request_id,
                                    category=req.category, service_area=req.service_area,
                                    municipality=municipality, facets=facets))
    return OpenedCase(case_id=case_id, person_id=person_id, opened_at=now, municipality=municipality,
                      requests=logged, events=tuple(events))
