from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from migradesk_intake.domain.case import FacetSource, open_case
from migradesk_intake.domain.person import age_band
from migradesk_shared.contracts.case_events import CaseOpened, RequestLogged
from migradesk_shared.contracts.categories import UnknownCategory
from migradesk_shared.contracts.vocabulary import MigratoryStatus, Sex

SOURCE = FacetSource(nationality="HTI", sex=Sex.MALE, birth_date=date(2010, 6, 1),
                     migratory_status=MigratoryStatus.HUMANITARIAN_RECEPTION, language="ht")
NOW = datetime(2026, 11, 22, 15, tzinfo=UTC)


def test_opening_a_case_announces_it_and_each_request_in_order() -> None:
    case = open_case(person_id="p1", facet_source=SOURCE, municipality="Dourados-MS", now=NOW,
                     requests=[("school_enrolment", "6º ano"), ("documentation", None)])
    opened, *logged = case.events
    assert isinstance(opened, CaseOpened) and all(isinstance(e, RequestLogged) for e in logged)
    assert [e.request_id for e in logged] == [r.request_id for r in case.requests]
    assert all(e.causation_id == opened.event_id and e.correlation_id == case.case_id for e in logged)
    assert logged[1].service_area is None and case.requests[1].resolved_at_desk
    assert opened.facets.age_band == "12-17"
    assert "6º ano" not in opened.model_dump_json() + logged[0].model_dump_json()  # notes stay in intake


def test_a_case_needs_known_categories_and_at_least_one_request() -> None:
    with pytest.raises(UnknownCategory):
        open_case(person_id="p", facet_source=SOURCE, municipality="M", now=NOW, requests=[("nope", None)])
    with pytest.raises(ValueError, match="at least one request"):
        open_case(person_id="p", facet_source=SOURCE, municipality="M", now=NOW, requests=[])


def test_age_bands() -> None:
    on = date(2026, 11, 22)
    assert age_band(date(2026, 11, 23), on) == "unknown"
    assert age_band(None, on) == "unknown"
    assert age_band(date(2014, 11, 23), on) == "0-11"
    assert age_band(date(2014, 11, 22), on) == "12-17"
    assert age_band(date(1966, 11, 22), on) == "60+"


def test_sharing_with_partners_needs_consent_or_a_legal_basis() -> None:
    from migradesk_intake.domain.person import Consent
    from migradesk_shared.contracts.vocabulary import LegalBasis

    on = date(2026, 11, 22)
    assert not Consent(LegalBasis.CONSENT, False, on, "ana").allows_sharing_with_partners()
    assert Consent(LegalBasis.CONSENT, True, on, "ana").allows_sharing_with_partners()
    assert Consent(LegalBasis.LIFE_PROTECTION, False, on, "ana").allows_sharing_with_partners()
    assert Consent(LegalBasis.PUBLIC_POLICY, False, on, "ana").allows_sharing_with_partners()
