"""Opening and reading cases: the state and the events stored with it, linking a returning person, audited reads."""

from __future__ import annotations

from dataclasses import replace

import pytest

from migradesk_intake.adapters.repository import IntakeRepository
from migradesk_intake.domain.audit import AccessKind
from migradesk_intake.domain.case import CaseStatus
from migradesk_intake.domain.duplicates import PersonRecord, match_keys
from migradesk_intake.service import IntakeService, ReadCase
from migradesk_shared.contracts.vocabulary import LegalBasis, ServiceArea
from migradesk_shared.errors import Conflict, DomainRuleViolation, NotFound
from tests.service.intake.helpers import (
    CASE_TOPIC,
    DANIELA,
    NOT_SHARING,
    PROFILE_TOPIC,
    TOWN,
    WILNER,
    RelayCalls,
    as_registered,
    open_case,
)


async def test_a_case_is_stored_with_its_events_in_order_and_the_relay_is_told(
        service: IntakeService, repository: IntakeRepository, relay_calls: RelayCalls) -> None:
    case = await service.open_case(open_case(DANIELA, "sus_card", "documentation", attended_in_own_language=True))
    # The person's record first (it holds the events keyed by the person), then the case.
    assert relay_calls.calls == [("persons", case.person_id), ("cases", case.case_id)]
    events = await repository.case_events(case.case_id)
    assert [(e.topic, e.event_type) for e in events] == [
        (CASE_TOPIC, "CaseOpened"), (CASE_TOPIC, "RequestLogged"), (CASE_TOPIC, "RequestLogged")]
    [shared] = await repository.person_events(case.person_id)
    assert (shared.topic, shared.event_type, shared.key) == (PROFILE_TOPIC, "PersonProfileUpserted", case.person_id)
    opened, health, desk = (e.payload for e in events)
    profile = shared.payload
    assert opened is not None and health is not None and desk is not None and profile is not None
    assert [e.key for e in events] == [case.case_id] * 3 and profile["case_id"] == case.case_id
    assert opened["municipality"] == TOWN and opened["attended_in_own_language"] is True
    assert opened["facets"] == {"nationality": "VEN", "sex": "female", "age_band": "30-59",
                                "migratory_status": "refugiado", "language": "es", "race_colour": "unknown",
                                "gender_identity": "unknown", "lgbtqia": "unknown"}
    assert (health["service_area"], desk["service_area"]) == ("health", None)
    assert health["causation_id"] == opened["event_id"]
    # Case events are de-identified: no name, document, contact or note leaves in them.
    assert not any(word in str([opened, health, desk]) for word in ("Daniela", "V123456", "99999", "note"))
    assert profile["full_name"] == "Daniela Suárez" and profile["phone"] == "+5567999990000"
    assert profile["languages"] == ["es", "pt"]
    assert profile["documents"] == [{"type": "rnm", "number": "V123456-A"}]
    assert profile["consent"] == {"legal_basis": "consent", "share_with_partners": True,
                                  "recorded_at": case.opened_at.date().isoformat(), "recorded_by": "ana"}


async def test_a_stored_case_reads_back_as_it_was_opened(service: IntakeService,
                                                         repository: IntakeRepository) -> None:
    case = await service.open_case(open_case(DANIELA, "job_placement", "legal_orientation"))
    stored = await repository.get_case(case.case_id)
    assert stored is not None
    assert stored.person == as_registered(DANIELA, case.opened_at) and stored.person_id == case.person_id
    assert stored.requests == case.requests
    assert [(r.category, r.service_area, r.description) for r in stored.requests] == [
        ("job_placement", ServiceArea.WORK, "note about job_placement"), ("legal_orientation", None,
                                                                         "note about legal_orientation")]
    assert (stored.status, stored.version, stored.municipality, stored.opened_at) == (
        CaseStatus.OPEN, 1, TOWN, case.opened_at)
    assert stored.events_stored == 3 and not stored.erased
    assert stored.assigned_to == "ana" and [w.action for w in stored.writes] == [AccessKind.CASE_OPEN]


async def test_the_profile_is_shared_only_when_sharing_was_chosen(service: IntakeService,
                                                                  repository: IntakeRepository) -> None:
    private = await service.open_case(open_case(replace(DANIELA, consent=NOT_SHARING)))
    assert await repository.person_events(private.person_id) == []
    # Another legal basis than consent does not share by itself: sharing is chosen explicitly, or not at all.
    by_law = replace(NOT_SHARING, legal_basis=LegalBasis.PUBLIC_POLICY)
    public = await service.open_case(open_case(replace(DANIELA, consent=by_law)))
    assert await repository.person_events(public.person_id) == []
    shared_by_law = replace(by_law, share_with_partners=True)
    shared = await service.open_case(open_case(replace(DANIELA, consent=shared_by_law)))
    assert [e.event_type for e in await repository.person_events(shared.person_id)] == ["PersonProfileUpserted"]
    assert {e.topic for e in await repository.case_events(shared.case_id)} == {CASE_TOPIC}


async def test_a_visit_with_several_requests_documents_and_sensitive_data(
        service: IntakeService, repository: IntakeRepository) -> None:
    case = await service.open_case(open_case(WILNER, "housing", "portuguese_course", "interpretation",
                                             attended_in_own_language=True))
    stored = await repository.get_case(case.case_id)
    assert stored is not None and stored.person == as_registered(WILNER, case.opened_at)
    assert [(r.category, r.service_area) for r in stored.requests] == [
        ("housing", ServiceArea.SOCIAL_ASSISTANCE), ("portuguese_course", ServiceArea.EDUCATION),
        ("interpretation", None)]
    events = [*await repository.case_events(case.case_id), *await repository.person_events(case.person_id)]
    opened, *logged, profile = (e.payload for e in events)
    assert opened is not None and profile is not None
    # Race/colour was declared under a legal obligation and counts; the gender identity, recorded to protect
    # the person's life, does not; health never does.
    assert {k: opened["facets"][k] for k in ("race_colour", "gender_identity", "lgbtqia")} == {
        "race_colour": "preta", "gender_identity": "unknown", "lgbtqia": "yes"}
    assert all(e is not None and e["facets"] == opened["facets"] for e in logged)
    # Sensitive data stays in intake: neither the case events nor the partners' profile carry it.
    published = str([e.payload for e in events])
    for word in ("insulin", "pregnant", "trans_woman", "bisexual", "legal_obligation", "sensitive"):
        assert word not in published
    assert profile["languages"] == ["ht", "fr", "es"]
    assert profile["documents"] == [{"type": "cpf", "number": "52998224725"},
                                    {"type": "passport", "number": "HT1234567"}]


async def test_a_returning_person_is_linked_and_an_unknown_one_is_refused(
        service: IntakeService, repository: IntakeRepository, relay_calls: RelayCalls) -> None:
    first = await service.open_case(open_case())
    again = await service.open_case(replace(open_case(), person=None, existing_person_id=first.person_id))
    assert again.person_id == first.person_id and again.case_id != first.case_id
    registered = await repository.get_person(first.person_id)
    assert registered is not None and registered.case_ids == (first.case_id, again.case_id)  # oldest first
    assert registered.version == 1  # a visit is not a change of the person's data
    # The returning person's profile is shared for the new case too: the partner network links it to them.
    assert [e.payload["case_id"] for e in await repository.person_events(first.person_id) if e.payload] == [
        first.case_id, again.case_id]
    calls = len(relay_calls.calls)
    with pytest.raises(NotFound) as refused:
        await service.open_case(replace(open_case(), person=None, existing_person_id="no-such-person"))
    assert refused.value.field == "existing_person_id"
    assert len(relay_calls.calls) == calls  # nothing written for the refused one
    with pytest.raises(DomainRuleViolation) as nobody:
        await service.open_case(replace(open_case(), person=None))
    assert nobody.value.field == "person"


async def test_a_case_breaking_a_rule_is_refused_before_anything_is_written(
        service: IntakeService, repository: IntakeRepository, relay_calls: RelayCalls) -> None:
    with pytest.raises(DomainRuleViolation, match="unknown request category 'bogus'"):
        await service.open_case(open_case(DANIELA, "bogus"))
    with pytest.raises(DomainRuleViolation, match="at least one request"):
        await service.open_case(replace(open_case(), requests=()))
    assert relay_calls.calls == []
    keys = match_keys(PersonRecord("", DANIELA.full_name, DANIELA.birth_date))
    assert await repository.persons_matching(keys, limit=10) == []


async def test_a_case_id_is_stored_once_and_a_retried_write_changes_nothing(
        service: IntakeService, repository: IntakeRepository) -> None:
    case = await service.open_case(open_case())
    stored = await repository.get_case(case.case_id)
    assert stored is not None
    with pytest.raises(Conflict):
        await repository.add_case(replace(case, municipality="elsewhere"), [])
    kept = await repository.get_case(case.case_id)
    assert kept == stored and len(await repository.case_events(case.case_id)) == 2
    keys = match_keys(PersonRecord("", DANIELA.full_name, DANIELA.birth_date))
    assert [p.person_id for p in await repository.persons_matching(keys, limit=10)] == [case.person_id]


async def test_reading_a_case_shows_the_person_and_is_audited(service: IntakeService,
                                                              repository: IntakeRepository) -> None:
    case = await service.open_case(open_case())
    read = await service.read_case(ReadCase(case.case_id, actor="bob"))
    assert read.person == as_registered(DANIELA, case.opened_at)
    [access] = await repository.accesses_to(case.person_id)
    assert (access.actor, access.action, access.case_id) == ("bob", AccessKind.CASE_READ, case.case_id)


async def test_reading_a_missing_case_is_not_found_and_audits_nothing(service: IntakeService,
                                                                      repository: IntakeRepository) -> None:
    with pytest.raises(NotFound) as missing:
        await service.read_case(ReadCase("no-such-case", actor="bob"))
    assert missing.value.field == "case_id" and missing.value.status_code == 404
    assert await repository.get_case("no-such-case") is None
    assert await repository.case_events("no-such-case") == []
