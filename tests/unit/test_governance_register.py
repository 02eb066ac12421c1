"""The governance register's rules (revisions, withdrawals, documents) and how metrics counts its changes: a
correction is the old facts out and the new ones in, so whatever the history of corrections, the counters end
up as if only the records' last facts had ever been counted."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migradesk_intake.domain.governance import (
    MAX_ATTACHMENT_BYTES,
    MAX_ATTACHMENTS,
    create_record,
    dimension_of,
    new_attachment,
    revise_record,
    safe_file_name,
    withdraw_record,
)
from migradesk_metrics.domain.indicators import governance_indicators, instruments_in_force
from migradesk_metrics.domain.rollups import ALL_AREAS, facts_amounts, increments_for, revision_increments
from migradesk_shared.contracts.activities import (
    ActivityFacts,
    GovernanceRecordRevised,
    InstrumentFacts,
    ParticipationEventHeld,
)
from migradesk_shared.contracts.registry import TOPIC_CONTRACTS
from migradesk_shared.errors import Conflict, DomainRuleViolation
from migradesk_shared.topics import ACTIVITIES

NOW = datetime(2026, 11, 24, 10, tzinfo=UTC)
TOWN = "Dourados-MS"
TZ_FREE = None
TRAINING = ActivityFacts(kind="training", held_on=date(2026, 3, 10), title="Acolhimento de migrantes",
                         audience="public_servants", servants_trained_by_sector={"health": 12, "education": 3})
LAW = InstrumentFacts(kind="law", title="Política Municipal para a População Migrante",
                      reference="Lei nº 5.123/2023", adopted_on=date(2023, 6, 1))
PDF = b"%PDF-1.7\n" + b"x" * 100


def test_a_record_is_created_corrected_and_withdrawn_with_its_facts_before_and_after() -> None:
    created = create_record(TRAINING, actor="ana", municipality=TOWN, now=NOW)
    assert created.record.revision == 1 and created.event is not None
    assert (created.event.before, created.event.after, created.event.revision) == (None, TRAINING, 1)
    moved = TRAINING.model_copy(update={"held_on": date(2026, 4, 2)})
    revised = revise_record(created.record, moved, expected_revision=1, actor="bia", municipality=TOWN, now=NOW)
    assert revised.record.revision == 2 and revised.record.updated_by == "bia"
    assert revised.event is not None and (revised.event.before, revised.event.after) == (TRAINING, moved)
    withdrawn = withdraw_record(revised.record, expected_revision=2, actor="bia", municipality=TOWN, now=NOW)
    assert withdrawn.record.withdrawn and withdrawn.event is not None
    assert (withdrawn.event.before, withdrawn.event.after) == (moved, None)
    # Every event is one the topic's contract takes back from its bytes.
    for event in (created.event, revised.event, withdrawn.event):
        assert TOPIC_CONTRACTS[ACTIVITIES.name].validate_json(event.model_dump_json()) == event
        assert event.partition_key() == created.record.record_id


def test_a_stale_or_withdrawn_record_or_a_change_of_nature_is_refused() -> None:
    record = create_record(TRAINING, actor="ana", municipality=TOWN, now=NOW).record
    with pytest.raises(Conflict) as stale:
        revise_record(record, TRAINING, expected_revision=3, actor="ana", municipality=TOWN, now=NOW)
    assert stale.value.field == "revision"
    with pytest.raises(DomainRuleViolation):
        revise_record(record, LAW, expected_revision=1, actor="ana", municipality=TOWN, now=NOW)
    gone = withdraw_record(record, expected_revision=1, actor="ana", municipality=TOWN, now=NOW).record
    with pytest.raises(DomainRuleViolation):
        revise_record(gone, TRAINING, expected_revision=2, actor="ana", municipality=TOWN, now=NOW)
    with pytest.raises(DomainRuleViolation):
        new_attachment(gone, name="a.pdf", media_type="application/pdf", content=PDF, actor="ana", now=NOW)
    # Saving the same facts again is a revision, but tells metrics nothing.
    same = revise_record(record, TRAINING, expected_revision=1, actor="ana", municipality=TOWN, now=NOW)
    assert same.record.revision == 2 and same.event is None


def test_facts_that_do_not_fit_their_kind_are_refused_by_the_contract() -> None:
    with pytest.raises(ValueError, match="servants"):
        ActivityFacts(kind="training", held_on=date(2026, 3, 1), title="x")
    with pytest.raises(ValueError, match="languages"):
        ActivityFacts(kind="information_material", held_on=date(2026, 3, 1), title="Guia")
    with pytest.raises(ValueError, match="adopted"):
        InstrumentFacts(kind="decree", title="x", adopted_on=date(2026, 3, 1), ends_on=date(2026, 2, 1))
    with pytest.raises(ValueError):
        GovernanceRecordRevised(producer="intake", record_id="r", municipality=TOWN, revision=1)
    with pytest.raises(ValueError, match="instrument"):
        GovernanceRecordRevised(producer="intake", record_id="r", municipality=TOWN, revision=2, before=TRAINING,
                                after=LAW)


@pytest.mark.parametrize(("media_type", "content", "reason"), [
    ("application/x-msdownload", b"MZ...", "type"),
    ("text/html", b"<script>alert(1)</script>", "type"),
    ("application/pdf", b"", "empty"),
    ("application/pdf", b"<html>not a pdf</html>", "content"),
    ("image/png", b"GIF89a", "content"),
    ("application/pdf", b"%PDF-" + b"x" * MAX_ATTACHMENT_BYTES, "size"),
])
def test_a_document_that_is_not_what_it_says_or_too_large_is_refused(media_type: str, content: bytes,
                                                                     reason: str) -> None:
    record = create_record(LAW, actor="ana", municipality=TOWN, now=NOW).record
    with pytest.raises(DomainRuleViolation) as refused:
        new_attachment(record, name="lei.pdf", media_type=media_type, content=content, actor="ana", now=NOW)
    assert refused.value.field == "file" and refused.value.details["reason"] == reason


def test_a_document_is_described_and_named_safely_and_a_record_holds_a_bounded_number() -> None:
    record = create_record(LAW, actor="ana", municipality=TOWN, now=NOW).record
    attachment = new_attachment(record, name="../../etc/Lei 5123.PDF", media_type="application/pdf", content=PDF,
                                actor="ana", now=NOW)
    assert (attachment.name, attachment.size, len(attachment.sha256)) == ("Lei 5123.PDF", len(PDF), 64)
    assert safe_file_name('ata\x00"reunião".txt', "application/pdf") == "ata_reunião_.txt.pdf"
    assert safe_file_name("...", "image/png") == "document.png"
    full = record.__class__(**{**record.__dict__, "attachments": (attachment,) * MAX_ATTACHMENTS})
    with pytest.raises(DomainRuleViolation) as refused:
        new_attachment(full, name="x.pdf", media_type="application/pdf", content=PDF, actor="ana", now=NOW)
    assert refused.value.details["reason"] == "count"


def test_each_kind_is_evidence_for_its_dimension() -> None:
    assert dimension_of(LAW) == 1 and dimension_of(TRAINING) == 2
    assert dimension_of(InstrumentFacts(kind="council", title="CMI", adopted_on=date(2024, 1, 1))) == 3
    assert dimension_of(InstrumentFacts(kind="partnership_agreement", title="UFGD", adopted_on=date(2024, 1, 1))) == 5


def _revised(revision: int, before: ActivityFacts | InstrumentFacts | None,
             after: ActivityFacts | InstrumentFacts | None) -> GovernanceRecordRevised:
    return GovernanceRecordRevised(producer="intake", record_id="r1", municipality=TOWN, revision=revision,
                                   before=before, after=after)


def test_a_correction_moves_the_counts_and_a_withdrawal_takes_them_out() -> None:
    moved = TRAINING.model_copy(update={"held_on": date(2026, 4, 2), "servants_trained_by_sector": {"health": 5}})
    [created] = revision_increments(_revised(1, None, TRAINING))
    assert (created.period, created.area) == ("2026-03", ALL_AREAS)
    assert created.amounts == Counter({"trainings_held": 1, "servants_trained": 15,
                                       "servants_trained|sector=health": 12, "servants_trained|sector=education": 3})
    march, april = revision_increments(_revised(2, TRAINING, moved))
    assert march.period == "2026-03" and all(n < 0 for n in march.amounts.values())
    assert april.amounts == Counter({"trainings_held": 1, "servants_trained": 5, "servants_trained|sector=health": 5})
    # A title corrected counts nothing again: no increment at all.
    assert revision_increments(_revised(2, TRAINING, TRAINING.model_copy(update={"title": "Outro"}))) == []
    [gone] = revision_increments(_revised(3, moved, None))
    assert gone.amounts == Counter({counter: -n for counter, n in april.amounts.items()})


def test_an_instrument_counts_from_its_adoption_to_its_end_and_in_force_follows() -> None:
    council = InstrumentFacts(kind="council", title="Conselho Municipal de Imigrantes", adopted_on=date(2024, 5, 3),
                              ends_on=date(2026, 8, 31), migrant_seats=6)
    months: dict[str, Counter[str]] = {}
    for facts in (council, LAW):
        for period, amounts in facts_amounts(facts).items():
            months.setdefault(period, Counter()).update(amounts)
    assert months["2024-05"]["migrant_seats_adopted"] == 6 and months["2026-08"]["instruments_ended|kind=council"] == 1
    assert instruments_in_force(months, "2024-04") == {"law": 1}
    assert instruments_in_force(months, "2026-07") == {"council": 1, "law": 1}
    assert instruments_in_force(months, "2026-08") == {"law": 1}
    figures = governance_indicators({ALL_AREAS: months.get("2026-07", Counter())},
                                    instruments_in_force(months, "2026-07"))
    assert figures[1]["instruments_in_force"] == {"law": 1}
    assert figures[3]["bodies_with_migrant_seats_in_force"] == {"council": 1}
    assert figures[5]["partnership_agreements_in_force"] == 0


def test_an_activity_logged_through_the_old_events_counts_as_the_register_counts_it() -> None:
    held = ParticipationEventHeld(producer="intake", activity_id="a1", municipality=TOWN, held_on=date(2026, 3, 9),
                                  kind="cultural", migrant_participants=40)
    [old] = increments_for(held, TZ_FREE)  # type: ignore[arg-type]
    [new] = revision_increments(_revised(1, None, ActivityFacts(kind="cultural_event", held_on=date(2026, 3, 9),
                                                                title="Festa", participants=40)))
    assert +old.amounts == +new.amounts == Counter({"participation_events": 1, "participation_events|kind=cultural": 1,
                                                    "migrant_participants": 40})


activity_facts = st.builds(
    ActivityFacts,
    kind=st.sampled_from(["awareness_campaign", "participatory_event", "cultural_event", "mapping_study",
                          "network_meeting", "advocacy_action", "project"]),
    held_on=st.dates(date(2025, 11, 1), date(2026, 2, 28)), title=st.just("t"),
    audience=st.sampled_from([None, "public_servants", "migrants"]), participants=st.integers(0, 50) | st.none())
instrument_facts = st.builds(
    lambda kind, adopted, days, seats: InstrumentFacts(
        kind=kind, title="t", adopted_on=adopted, migrant_seats=seats,
        ends_on=None if days is None else date.fromordinal(adopted.toordinal() + days)),
    st.sampled_from(["law", "committee", "partnership_agreement"]), st.dates(date(2025, 11, 1), date(2026, 2, 28)),
    st.integers(0, 120) | st.none(), st.integers(1, 8) | st.none())


@settings(max_examples=150, deadline=None)
@given(history=st.lists(activity_facts | instrument_facts | st.none(), min_size=1, max_size=8), kind=st.booleans())
def test_whatever_the_corrections_the_counts_are_those_of_the_last_facts(
        history: list[ActivityFacts | InstrumentFacts | None], kind: bool) -> None:
    # One record's life: facts, corrections, a withdrawal (None) ends it; its nature stays what it was created as.
    nature = type(history[0]) if history[0] is not None else (ActivityFacts if kind else InstrumentFacts)
    life = [f for f in history if f is None or isinstance(f, nature)]
    counted: dict[str, Counter[str]] = {}
    current: ActivityFacts | InstrumentFacts | None = None
    for revision, facts in enumerate(life, start=1):
        if current is None and facts is None:
            continue
        for inc in revision_increments(_revised(revision, current, facts)):
            counted.setdefault(inc.period, Counter()).update(inc.amounts)
        current = facts
        if facts is None:
            break
    expected = facts_amounts(current) if current is not None else {}
    assert {p: +c for p, c in counted.items() if +c} == {p: +c for p, c in expected.items() if +c}
    assert all(n >= 0 for c in counted.values() for n in c.values())
