from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from migradesk_intake.domain.case import (
    Case,
    CaseOutcome,
    FacetSource,
    ProfileWithdrawn,
    change_consent,
    open_case,
    partner_profile,
    suggested_outcome,
)
from migradesk_intake.domain.person import Consent, ConsentGiven, Person, age_band
from migradesk_intake.domain.sensitive import Declared, SensitiveData
from migradesk_shared.contracts.case_events import CaseOpened, RequestLogged
from migradesk_shared.contracts.categories import UnknownCategory
from migradesk_shared.contracts.person_profiles import PersonProfileUpserted
from migradesk_shared.contracts.vocabulary import (
    GenderIdentity,
    LegalBasis,
    MigratoryStatus,
    RaceColour,
    ReferralStatus,
    Sex,
)
from migradesk_shared.errors import DomainRuleViolation

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


def test_sharing_with_partners_is_an_explicit_choice_whatever_the_basis() -> None:
    on = date(2026, 11, 22)
    for basis in LegalBasis:
        assert not Consent(basis, False, on, "ana").allows_sharing_with_partners()
        assert Consent(basis, True, on, "ana").allows_sharing_with_partners()


def test_the_facets_carry_only_sensitive_data_declared_on_a_statistical_basis() -> None:
    person = Person(full_name="Yaima Hernández", nationality="CUB", consent=ConsentGiven(LegalBasis.CONSENT, False,
                                                                                         "ana"),
                    sensitive=SensitiveData(race_colour=Declared(RaceColour.PARDA, LegalBasis.LEGAL_OBLIGATION),
                                            gender_identity=Declared(GenderIdentity.TRANS_WOMAN,
                                                                     LegalBasis.LIFE_PROTECTION)))
    facets = FacetSource.of(person).facets(NOW.date())
    assert (facets.race_colour, facets.gender_identity, facets.lgbtqia) == ("parda", "unknown", "unknown")
    assert open_case(person_id="p", facet_source=FacetSource.of(person), municipality="M", now=NOW,
                     requests=[("housing", None)]).events[0].facets == facets


def test_a_person_speaks_the_preferred_language_first() -> None:
    person = Person(full_name="Jean", nationality="HTI", consent=ConsentGiven(LegalBasis.CONSENT, True, "ana"),
                    preferred_language="ht", languages=("fr", "ht", "es", "fr"))
    assert person.languages == ("ht", "fr", "es")
    assert Person(full_name="Ana", nationality="VEN", consent=person.consent).languages == ("pt",)


def shared_case(share: bool) -> Case:
    person = Person(full_name="Jean", nationality="HTI", consent=ConsentGiven(LegalBasis.CONSENT, share, "ana"),
                    preferred_language="ht", languages=("fr",), phone="+50934567890",
                    sensitive=SensitiveData(race_colour=Declared(RaceColour.PRETA, LegalBasis.CONSENT)))
    opened = open_case(person_id="p1", facet_source=FacetSource.of(person), municipality="M", now=NOW,
                       requests=[("sus_card", None)])
    return Case.opened(opened, person)


def test_the_partner_profile_carries_the_languages_and_never_sensitive_data() -> None:
    [profile] = partner_profile(shared_case(True))
    assert profile.languages == ["ht", "fr"] and profile.phone == "+50934567890"
    assert "preta" not in profile.model_dump_json() and "sensitive" not in profile.model_dump_json()
    assert partner_profile(shared_case(False)) == ()


def test_withdrawing_the_sharing_scrubs_the_profiles_and_tombstones_the_partners_copy() -> None:
    case = shared_case(True)
    assert case.person is not None
    later = NOW + timedelta(days=3)
    withdrawn = ConsentGiven(LegalBasis.PUBLIC_POLICY, False, "bia", recorded_at=later)
    changed = change_consent("p1", case.person, withdrawn, case_ids=("c0", case.case_id), now=later)
    assert changed.scrub_profiles and changed.events == (ProfileWithdrawn("p1"),)
    assert changed.person.consent == withdrawn
    assert changed.person.consent_history == (case.person.consent,)


def test_giving_the_sharing_shares_the_data_under_each_case_dated_by_the_change() -> None:
    case = shared_case(False)
    later = NOW + timedelta(days=3)
    given = ConsentGiven(LegalBasis.CONSENT, True, "bia", recorded_at=later)
    assert case.person is not None
    changed = change_consent("p1", replace(case.person, phone="+50930000000"), given,
                             case_ids=("c0", case.case_id), now=later)
    assert not changed.scrub_profiles
    assert [p.case_id for p in changed.events if isinstance(p, PersonProfileUpserted)] == ["c0", case.case_id]
    profile = changed.events[-1]
    assert isinstance(profile, PersonProfileUpserted)
    assert (profile.person_id, profile.phone, profile.occurred_at) == ("p1", "+50930000000", later)
    assert (profile.consent.recorded_at, profile.consent.recorded_by) == (later.date(), "bia")


@pytest.mark.parametrize(("statuses", "expected"), [
    ([], None),  # nothing referred: staff decide
    ([ReferralStatus.COMPLETED, ReferralStatus.PENDING], None),  # one still under way
    ([ReferralStatus.COMPLETED, ReferralStatus.ATTENDED], CaseOutcome.SERVED),
    ([ReferralStatus.COMPLETED, ReferralStatus.DECLINED], CaseOutcome.PARTLY_SERVED),
    ([ReferralStatus.DECLINED, ReferralStatus.CANCELLED], CaseOutcome.NOT_SERVED),
    ([ReferralStatus.UNABLE_TO_CONTACT], CaseOutcome.UNREACHABLE),
    ([ReferralStatus.NEEDS_MANUAL_ROUTING], None),
])
def test_the_outcome_is_suggested_once_every_referral_ended(statuses: list[ReferralStatus],
                                                            expected: CaseOutcome | None) -> None:
    assert suggested_outcome(statuses) is expected


def test_each_write_of_a_case_makes_a_version_and_an_entry_of_its_timeline() -> None:
    case = shared_case(True)
    noted = case.add_note("  Came with her son.  ", by="ana", at=NOW)
    planned = noted.add_follow_up("Call back", date(2026, 11, 30), by="ana", at=NOW)
    [follow_up] = planned.follow_ups
    done = planned.complete_follow_up(follow_up.follow_up_id, by="bob", at=NOW + timedelta(days=1))
    closed = done.close(CaseOutcome.SERVED, by="bob", at=NOW + timedelta(days=2))
    assert [c.version for c in (case, noted, planned, done, closed)] == [1, 2, 3, 4, 5]
    assert noted.notes[0].text == "Came with her son."
    assert [w.action.value for w in closed.writes[-4:]] == ["case.note", "case.follow_up", "case.follow_up_done",
                                                            "case.close"]
    assert done.complete_follow_up(follow_up.follow_up_id, by="bob", at=NOW) is done  # done once
    with pytest.raises(DomainRuleViolation) as closed_already:
        closed.add_request("sus_card", None, facet_source=FacetSource.of(case.person), by="ana", at=NOW)  # type: ignore[arg-type]
    assert closed_already.value.field == "status"
    with pytest.raises(DomainRuleViolation) as too_long:
        case.add_note("x" * 4001, by="ana", at=NOW)
    assert too_long.value.field == "text"
    # Due "today" where the desk is, though UTC is already on the next day.
    late_evening = datetime(2026, 11, 23, 1, tzinfo=UTC)
    assert case.add_follow_up("Call", date(2026, 11, 22), by="ana", at=late_evening, today=date(2026, 11, 22))
    with pytest.raises(DomainRuleViolation):
        case.add_follow_up("Call", date(2026, 11, 22), by="ana", at=late_evening)


def test_an_erasure_blanks_every_free_text_and_keeps_who_did_what() -> None:
    case = shared_case(True).add_note("Her brother's address is…", by="ana", at=NOW)
    case = case.add_follow_up("Visit at home", date(2026, 12, 1), by="ana", at=NOW)
    erased = case.erase_personal_data(NOW, actor="dpo")
    assert erased.person is None and all(r.description is None for r in erased.requests)
    assert [n.text for n in erased.notes] == [""] and [f.text for f in erased.follow_ups] == [""]
    assert [n.by for n in erased.notes] == ["ana"] and erased.writes[-1].actor == "dpo"
