"""Rollups: which counters an event increments. Pure; the metrics service applies them idempotently.

Counters live in buckets (municipality, month, area). One event increments several counters of a bucket at
once, including disaggregated ones named `<counter>|<dimension>=<value>` (nationality, sex, age band,
migratory status, language), so one guarded write per bucket applies the whole event.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol
from zoneinfo import ZoneInfo

from migradesk_metrics.domain.indicators import histogram_key
from migradesk_shared.contracts.activities import (
    ActivityEvent,
    ActivityFacts,
    GovernanceRecordRevised,
    InformationMaterialPublished,
    InstrumentFacts,
    ParticipationEventHeld,
    TrainingHeld,
)
from migradesk_shared.contracts.case_events import CaseOpened, PersonFacets, RequestLogged
from migradesk_shared.contracts.referral_events import (
    ReferralAccepted,
    ReferralAttended,
    ReferralCancelled,
    ReferralCompleted,
    ReferralCreated,
    ReferralDeclined,
    ReferralLifecycleEvent,
    ReferralNeedsManualRouting,
    ReferralNoShow,
    ReferralOverdue,
    ReferralReopened,
    ReferralScheduled,
    ReferralUnableToContact,
)

ALL_AREAS = "_all"
AT_DESK = "desk"
# The last three serve dimension 10 (gender, LGBTQIA+ and racial equality); intake fills them only from data
# the person declared on a basis that allows statistics, "unknown" otherwise.
DISAGGREGATIONS = ("nationality", "sex", "age_band", "migratory_status", "language", "race_colour",
                   "gender_identity", "lgbtqia")


@dataclass(frozen=True)
class BucketKey:
    """Which bucket: one municipality, one month, one area (a service area, `_all` or `desk`)."""

    municipality: str
    period: str  # YYYY-MM in the municipality's time zone
    area: str

    @property
    def bucket_id(self) -> str:
        return f"{self.municipality}|{self.period}|{self.area}"


class BucketIncrement(NamedTuple):
    """+1 on each of `counters`, and +n on each (counter, n) of `weighted`, in the bucket (municipality, period,
    area). A tuple: every event makes one or two, and a tuple is the cheapest object to make."""

    municipality: str
    period: str  # YYYY-MM in the municipality's time zone
    area: str
    counters: tuple[str, ...]
    weighted: tuple[tuple[str, int], ...] = ()

    @property
    def amounts(self) -> Counter[str]:
        total = Counter(self.counters)
        for counter, n in self.weighted:
            total[counter] += n
        return total

    @property
    def key(self) -> BucketKey:
        return BucketKey(self.municipality, self.period, self.area)

    @property
    def bucket_id(self) -> str:
        return f"{self.municipality}|{self.period}|{self.area}"  # as BucketKey.bucket_id, without making one


def period_of(moment: datetime, tz: ZoneInfo) -> str:
    # Every event needs its month, and converting time zones is the dearest step of counting one: months are
    # looked up per quarter of an hour (time zones change their offset on such boundaries only).
    return _period_of_quarter_hour(int(moment.timestamp()) // 900, tz)


@functools.lru_cache(maxsize=8192)
def _period_of_quarter_hour(quarter_hour: int, tz: ZoneInfo) -> str:
    local = datetime.fromtimestamp(quarter_hour * 900, tz)
    return f"{local.year:04d}-{local.month:02d}"


def disaggregated(counter: str, facets: PersonFacets) -> tuple[str, ...]:
    return _disaggregated(counter, facets.nationality or "unknown", facets.sex.value, facets.age_band,
                          facets.migratory_status.value, facets.language, facets.race_colour,
                          facets.gender_identity, facets.lgbtqia)


@functools.lru_cache(maxsize=4096)
def _disaggregated(counter: str, *values: str) -> tuple[str, ...]:
    # Profiles repeat (a desk serves a few nationalities and languages): the counter names are made once each.
    return (counter, *(f"{counter}|{dim}={value}" for dim, value in zip(DISAGGREGATIONS, values, strict=True)))


RollupEvent = (CaseOpened | RequestLogged | ReferralCreated | ReferralNeedsManualRouting | ReferralLifecycleEvent
               | ActivityEvent | GovernanceRecordRevised)


def activity_facts(event: ActivityEvent) -> ActivityFacts:
    """An activity logged through the activities API, as the register's facts: one way of counting both."""
    if isinstance(event, TrainingHeld):
        return ActivityFacts(kind="training", held_on=event.held_on, title=event.topic,
                             servants_trained_by_sector=event.servants_trained_by_sector)
    if isinstance(event, ParticipationEventHeld):
        return ActivityFacts(kind="participatory_event" if event.kind == "participatory" else "cultural_event",
                             held_on=event.held_on,
                             title=event.kind, participants=event.migrant_participants)
    assert isinstance(event, InformationMaterialPublished)
    return ActivityFacts(kind="information_material", held_on=event.held_on, title=event.title,
                         languages=event.languages)


# Activities counted by kind alone (their dimension's page lists them by kind).
_PLAIN_ACTIVITIES = {"mapping_study": "mapping_studies", "network_meeting": "network_meetings",
                     "advocacy_action": "advocacy_actions", "project": "projects"}


def facts_amounts(facts: ActivityFacts | InstrumentFacts) -> dict[str, Counter[str]]:
    """What one register record adds, by month: an activity in the month it was held; an instrument in force
    from the month it was adopted (`instruments_adopted`) to the month it ended (`instruments_ended`), so the
    instruments in force at a month are the adopted minus the ended up to it."""
    amounts: dict[str, Counter[str]] = {}
    if isinstance(facts, InstrumentFacts):
        seats = (("migrant_seats", facts.migrant_seats),) if facts.migrant_seats else ()
        adopted = amounts.setdefault(facts.adopted_on.strftime("%Y-%m"), Counter())
        adopted.update({"instruments_adopted": 1, f"instruments_adopted|kind={facts.kind}": 1})
        adopted.update({f"{name}_adopted": n for name, n in seats})
        if facts.ends_on is not None:
            ended = amounts.setdefault(facts.ends_on.strftime("%Y-%m"), Counter())
            ended.update({"instruments_ended": 1, f"instruments_ended|kind={facts.kind}": 1})
            ended.update({f"{name}_ended": n for name, n in seats})
        return amounts
    month = amounts.setdefault(facts.held_on.strftime("%Y-%m"), Counter())
    if facts.kind == "training":
        month.update({"trainings_held": 1, "servants_trained": sum(facts.servants_trained_by_sector.values())})
        month.update({f"servants_trained|sector={sector}": n for sector, n in facts.servants_trained_by_sector.items()})
    elif facts.kind in ("participatory_event", "cultural_event"):
        month.update({"participation_events": 1, f"participation_events|kind={facts.kind.removesuffix('_event')}": 1,
                      "migrant_participants": facts.participants or 0})
    elif facts.kind == "information_material":
        month.update({"information_materials": 1})
        month.update({f"information_materials|language={lang}": 1 for lang in set(facts.languages)})
    elif facts.kind == "awareness_campaign":
        month.update({"awareness_campaigns": 1, f"awareness_campaigns|audience={facts.audience or 'unknown'}": 1,
                      "people_reached": facts.participants or 0})
    else:
        month.update({_PLAIN_ACTIVITIES[facts.kind]: 1})
        if facts.kind == "network_meeting":
            month.update({"network_participants": facts.participants or 0})
    return amounts


def activity_increment(event: ActivityEvent) -> BucketIncrement:
    """Governance activities (dimensions 2-4) count in the desk-wide bucket of the month they were held."""
    [(period, amounts)] = facts_amounts(activity_facts(event)).items()
    return BucketIncrement(event.municipality, period, ALL_AREAS, (), tuple(sorted(amounts.items())))


def revision_increments(event: GovernanceRecordRevised) -> list[BucketIncrement]:
    """A register record's change: its old facts counted out, its new ones in, in the months each counts in;
    one increment per month (a bucket takes one per message), none where the change counts nothing (a title)."""
    delta: dict[str, Counter[str]] = {}
    for facts, sign in ((event.before, -1), (event.after, 1)):
        if facts is not None:
            for period, amounts in facts_amounts(facts).items():
                month = delta.setdefault(period, Counter())
                for counter, n in amounts.items():
                    month[counter] += sign * n
    return [BucketIncrement(event.municipality, period, ALL_AREAS, (),
                            tuple(sorted((c, n) for c, n in amounts.items() if n)))
            for period, amounts in sorted(delta.items()) if any(amounts.values())]


def _hours_since_created(event: ReferralLifecycleEvent) -> float:
    return _hours_between(event.referral_created_at, event.occurred_at)


def _hours_between(start: datetime, end: datetime) -> float:
    # Clocks of two services: a negative wait is a skew, not a time.
    return max((end - start).total_seconds() / 3600, 0.0)


def cohort_counters(event: ReferralLifecycleEvent) -> tuple[str, ...]:
    """What a step adds to the cohort of referrals created in its referral's month (`cohort_<step>`), once per
    referral: a repeated step (accepted again after a reopening) adds nothing. A month's acceptance rate is then
    its cohort's accepted over its referrals created, never above 100% whenever the acceptances come."""
    if event.repeated:
        return ()
    agency = f"|agency={event.agency_id}"
    if isinstance(event, ReferralAccepted):
        return ("cohort_accepted", f"cohort_accepted{agency}")
    if isinstance(event, ReferralDeclined):
        return ("cohort_declined", f"cohort_declined{agency}")
    if isinstance(event, ReferralCompleted):
        return ("cohort_completed", f"cohort_completed|outcome={event.outcome.value}")
    if isinstance(event, ReferralOverdue):
        return ("cohort_overdue",)
    return ()


def lifecycle_counters(event: ReferralLifecycleEvent) -> tuple[str, ...]:
    """The counters one step of a referral's life increments in its area's bucket."""
    agency = f"|agency={event.agency_id}"
    if isinstance(event, ReferralAccepted):
        return ("referrals_accepted", f"referrals_accepted{agency}",
                histogram_key("time_to_acceptance_h", _hours_since_created(event)))
    if isinstance(event, ReferralDeclined):
        return ("referrals_declined", f"referrals_declined|reason={event.reason.value}", f"referrals_declined{agency}")
    if isinstance(event, ReferralCompleted):
        return ("referrals_completed", f"referrals_completed|outcome={event.outcome.value}",
                histogram_key("time_to_completion_h", _hours_since_created(event)))
    simple = {ReferralScheduled: "referrals_scheduled", ReferralAttended: "referrals_attended",
              ReferralNoShow: "referrals_no_show", ReferralCancelled: "referrals_cancelled",
              ReferralUnableToContact: "referrals_unable_to_contact", ReferralReopened: "referrals_reopened",
              ReferralOverdue: "referrals_overdue"}
    return (simple[type(event)],) if type(event) in simple else ()


def increments_for(event: RollupEvent, tz: ZoneInfo) -> list[BucketIncrement]:
    period = period_of(event.occurred_at, tz)
    m = event.municipality
    if isinstance(event, ActivityEvent):
        return [activity_increment(event)]
    if isinstance(event, GovernanceRecordRevised):
        return revision_increments(event)
    if isinstance(event, CaseOpened):
        in_language = ("cases_attended_in_own_language",) if event.attended_in_own_language else ()
        return [BucketIncrement(m, period, ALL_AREAS, (*disaggregated("cases_opened", event.facets), *in_language))]
    if isinstance(event, RequestLogged):
        area = event.service_area.value if event.service_area else AT_DESK
        overall = ["requests_logged"] + (["requests_resolved_at_desk"] if event.service_area is None else [])
        return [BucketIncrement(m, period, area, disaggregated("requests_logged", event.facets)),
                BucketIncrement(m, period, ALL_AREAS, tuple(overall))]
    if isinstance(event, ReferralCreated):
        waited = () if event.request_logged_at is None else (
            histogram_key("request_to_referral_h", _hours_between(event.request_logged_at, event.occurred_at)),)
        return [BucketIncrement(m, period, event.service_area.value,
                                (*disaggregated("referrals_created", event.facets),
                                 f"referrals_created|agency={event.agency_id}")),
                BucketIncrement(m, period, ALL_AREAS, ("referrals_created", *waited))]
    if isinstance(event, ReferralNeedsManualRouting):
        return [BucketIncrement(m, period, event.service_area.value, ("referrals_needing_manual_routing",))]
    if isinstance(event, ReferralLifecycleEvent):
        area, counters, cohort = event.service_area.value, lifecycle_counters(event), cohort_counters(event)
        # The cohort counts in the month the referral was created: that month's rates are shares of its own
        # referrals. One message makes one increment per bucket (a bucket's guard is per message).
        created_in = period_of(event.referral_created_at, tz) if cohort else period
        if created_in == period:
            return [BucketIncrement(m, period, area, (*counters, *cohort))] if counters or cohort else []
        return [*([BucketIncrement(m, period, area, counters)] if counters else []),
                BucketIncrement(m, created_in, area, cohort)]
    return []


class Position(Protocol):
    """Where a message was read (a Kafka delivery is one): its partition, as a key fit for a field name, and its
    offset there. Offsets only grow within a partition, which is what makes a redelivery recognisable."""

    @property
    def position_key(self) -> str: ...

    @property
    def offset(self) -> int: ...


# One message as a bucket sees it: (partition key, offset, the counters it increments there).
Entry = tuple[str, int, Mapping[str, int]]


@dataclass(frozen=True)
class BucketBatch:
    """The messages of a batch that touch one bucket, in the order they were read; with what they add up to and,
    per partition, the first and last offset among them (when offsets grow along the entries, which is how a
    partition is read, a bucket holding none of them takes the total at once)."""

    key: BucketKey
    increments: tuple[tuple[str, int, BucketIncrement], ...]
    total: Counter[str]
    first_offsets: Mapping[str, int]
    last_offsets: Mapping[str, int]
    offsets_grow: bool

    @property
    def entries(self) -> tuple[Entry, ...]:
        return tuple((position, offset, inc.amounts) for position, offset, inc in self.increments)


def batch_by_bucket(messages: Iterable[tuple[RollupEvent, Position]], tz: ZoneInfo) -> list[BucketBatch]:
    """Group a batch's increments per bucket, so the whole batch costs one guarded write per bucket it touches."""
    grouped: dict[str, _Grouping] = {}
    for event, at in messages:
        position, offset = at.position_key, at.offset
        for inc in increments_for(event, tz):
            bucket_id = inc.bucket_id
            group = grouped.get(bucket_id)
            if group is None:
                group = grouped[bucket_id] = _Grouping(inc.key)
            group.add(position, offset, inc)
    return [group.batch() for group in grouped.values()]


class _Grouping:
    __slots__ = ("first", "grows", "increments", "key", "last", "total")

    def __init__(self, key: BucketKey) -> None:
        self.key = key
        self.increments: list[tuple[str, int, BucketIncrement]] = []
        self.total: Counter[str] = Counter()
        self.first: dict[str, int] = {}
        self.last: dict[str, int] = {}
        self.grows = True

    def add(self, position: str, offset: int, inc: BucketIncrement) -> None:
        self.increments.append((position, offset, inc))
        self.total.update(inc.counters)
        for counter, n in inc.weighted:
            self.total[counter] += n
        if position in self.last:
            self.grows = self.grows and offset > self.last[position]
        else:
            self.first[position] = offset
        self.last[position] = offset

    def batch(self) -> BucketBatch:
        return BucketBatch(self.key, tuple(self.increments), self.total, self.first, self.last, self.grows)


@dataclass(frozen=True)
class BucketWrite:
    """What one guarded write adds to a bucket: the summed increments of the messages it does not hold yet, and
    per partition the newest offset it will then hold."""

    increments: Counter[str]
    newest_offsets: dict[str, int]
    counted: int


def plan_batch_write(held_offsets: Mapping[str, int], batch: BucketBatch) -> BucketWrite | None:
    """`plan_bucket_write` of a bucket's batch; when the bucket holds none of its messages (no redelivery, the
    usual case), the precomputed total without going through the entries again."""
    if batch.offsets_grow and all(first > held_offsets.get(position, -1)
                                  for position, first in batch.first_offsets.items()):
        return BucketWrite(Counter(batch.total), dict(batch.last_offsets), len(batch.increments))
    return plan_bucket_write(held_offsets, batch.entries)


def plan_bucket_write(held_offsets: Mapping[str, int], entries: Iterable[Entry]) -> BucketWrite | None:
    """Entries are (partition key, offset, counters) in the order they were read. A message at or below the
    offset the bucket holds for its partition was counted already (a redelivery); None when nothing is new."""
    increments: Counter[str] = Counter()
    newest: dict[str, int] = {}
    counted = 0
    for position, offset, counters in entries:
        if offset <= max(held_offsets.get(position, -1), newest.get(position, -1)):
            continue
        increments.update(counters)
        newest[position] = offset
        counted += 1
    return BucketWrite(increments, newest, counted) if counted else None


class RollupFold:
    """Buckets counted in memory from messages read in partition order, e.g. every event again from offset 0
    (a rebuild): one store write per bucket at the end instead of guarded writes along the way. Each bucket
    holds, per partition, the offset of the last message it counted, as a live write would leave it."""

    def __init__(self) -> None:
        self._keys: dict[str, BucketKey] = {}
        # How often each (bucket, counters, weighted) increment occurred: most events repeat a few shapes
        # (same month, area and profile), so a tally is much cheaper than adding up counters event by event.
        self._tally: Counter[tuple[str, tuple[str, ...], tuple[tuple[str, int], ...]]] = Counter()
        self._offsets: dict[str, dict[str, int]] = {}
        self.counted = 0

    def add(self, messages: Iterable[tuple[RollupEvent, Position]], tz: ZoneInfo) -> None:
        for event, at in messages:
            self.add_one(event, at.position_key, at.offset, tz)

    def add_one(self, event: RollupEvent, position: str, offset: int, tz: ZoneInfo) -> None:
        """One message, read at `offset` of the partition whose `Position.position_key` is `position`."""
        for inc in increments_for(event, tz):
            bucket_id = inc.bucket_id
            held = self._offsets.get(bucket_id)
            if held is None:
                self._keys[bucket_id] = inc.key
                held = self._offsets[bucket_id] = {}
            self._tally[(bucket_id, inc.counters, inc.weighted)] += 1
            held[position] = offset
            self.counted += 1

    @property
    def buckets(self) -> dict[str, tuple[BucketKey, Counter[str], dict[str, int]]]:
        """By bucket id: (key, counters, per partition the offset of the last message counted)."""
        totals: dict[str, Counter[str]] = {bucket_id: Counter() for bucket_id in self._keys}
        for (bucket_id, counters, weighted), times in self._tally.items():
            total = totals[bucket_id]
            for counter in counters:
                total[counter] += times
            for counter, n in weighted:
                total[counter] += n * times
        return {bucket_id: (key, totals[bucket_id], self._offsets[bucket_id]) for bucket_id, key in self._keys.items()}
