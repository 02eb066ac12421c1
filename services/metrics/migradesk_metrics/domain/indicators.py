"""Indicators for the ten MigraCidades governance dimensions, computed from rollup counters (pure).

Input: the counters of one municipality and period, per area bucket (see rollups.py): `_all` for the whole
desk, one bucket per service area, `desk` for requests resolved at the desk. Counter names follow
`<counter>` or `<counter>|<dimension>=<value>`; duration histograms are `<name>|le=<hours>` bucket counts.
A figure that has no denominator is None, not 0: "no data" and "0 %" are different statements.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from typing import Any

from migradesk_shared.contracts.vocabulary import ServiceArea

Counts = Mapping[str, int]

# The duration histograms kept by the rollups have log-spaced bins, each 5% wider than the one before, from a
# minute to a year (about 280 bins, of which a month uses a few dozen): a median or p90 read from them is within
# about 2.5% of the exact value, at the cost of one counter per bin used. Durations beyond a year are "more than
# that". A bin's counter is `<name>|le_s=<bound in whole seconds>`: no '.' may appear in a counter's name (the
# store reads a dotted field name as a path).
BIN_GROWTH = 1.05
FIRST_BOUND_HOURS = 1 / 60
LAST_BOUND_HOURS = 24 * 365
_BINS = math.ceil(math.log(LAST_BOUND_HOURS / FIRST_BOUND_HOURS) / math.log(BIN_GROWTH))
DURATION_BOUNDS_SECONDS: tuple[int, ...] = tuple(round(FIRST_BOUND_HOURS * 3600 * BIN_GROWTH ** k)
                                                 for k in range(_BINS + 1))
# Rollups counted before these bins (a rebuild replaces them) have coarse bins in hours: `<name>|le=<hours>`.
_COARSE = "le"
_FINE = "le_s"

DIMENSIONS: dict[int, str] = {
    1: "institutional structure & local strategy",
    2: "training of public servants",
    3: "social & cultural participation",
    4: "transparency & access to information",
    5: "institutional partnerships",
    6: "health",
    7: "education",
    8: "social assistance",
    9: "labour market",
    10: "protection",
}
AREA_DIMENSION: dict[ServiceArea, int] = {
    ServiceArea.HEALTH: 6, ServiceArea.EDUCATION: 7, ServiceArea.SOCIAL_ASSISTANCE: 8, ServiceArea.WORK: 9,
    ServiceArea.PROTECTION: 10,
}


def ratio(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else round(numerator / denominator, 4)


class IndexedCounts(dict[str, int]):
    """A bucket's counters that index their `<counter>|<dimension>=<value>` keys the first time a breakdown is
    asked for: a month's page asks for dozens of breakdowns of buckets of thousands of keys, and scanning every key
    for each one was most of a page's time. The index is built once per bucket read; don't change the counters
    after (nothing does: they are read from the store for one page)."""

    __slots__ = ("_index",)
    _index: dict[str, dict[str, dict[str, int]]]

    def index(self) -> dict[str, dict[str, dict[str, int]]]:
        try:
            return self._index
        except AttributeError:
            index: dict[str, dict[str, dict[str, int]]] = {}
            for key, value in self.items():
                counter, bar, rest = key.partition("|")
                if bar and "=" in rest:
                    dimension, _, label = rest.partition("=")
                    index.setdefault(counter, {}).setdefault(dimension, {})[label] = value
            self._index = index
            return index


def breakdown(counts: Counts, counter: str) -> dict[str, dict[str, int]]:
    """{'nationality': {'VEN': 3, ...}, ...} from the `<counter>|<dimension>=<value>` keys (read-only: an
    indexed bucket hands out its index)."""
    if isinstance(counts, IndexedCounts):
        return counts.index().get(counter, {})
    out: dict[str, dict[str, int]] = {}
    prefix = f"{counter}|"
    for key, value in counts.items():
        if key.startswith(prefix) and "=" in key:
            dimension, _, label = key[len(prefix):].partition("=")
            out.setdefault(dimension, {})[label] = value
    return out


def histogram_quantile(counts: Counts, name: str, q: float) -> float | None:
    """Quantile q (hours) of a duration histogram, within about 2.5%: the geometric middle of the bin holding it
    (the first bin: its bound); None without observations, float('inf') when it lies beyond the last bound.
    Coarse bins of rollups counted before (`le=<hours>`) still read, as their bounds."""
    if not 0 < q <= 1:
        raise ValueError("quantile must be in (0, 1]")
    bins: list[tuple[float, int, bool]] = []
    for key, n in counts.items():
        if not n or not key.startswith(f"{name}|"):
            continue
        kind, _, written = key[len(name) + 1:].partition("=")
        if kind == _FINE:
            bins.append((float(written) / 3600, n, True))
        elif kind == _COARSE:
            bins.append((float(written), n, False))
    total = sum(n for _, n, _ in bins)
    if total == 0:
        return None
    rank, running = q * total, 0
    for bound, n, fine in sorted(bins):
        running += n
        if running >= rank:
            if not fine or math.isinf(bound) or bound <= FIRST_BOUND_HOURS:
                return bound
            # The geometric middle of the bin's edges (its bound and the bound before), to three figures.
            upper = round(bound * 3600)
            index = bisect.bisect_left(DURATION_BOUNDS_SECONDS, upper)
            lower = DURATION_BOUNDS_SECONDS[index - 1] if 0 < index < len(DURATION_BOUNDS_SECONDS) else upper
            return float(f"{math.sqrt(lower * upper) / 3600:.3g}")
    return float("inf")


def histogram_key(name: str, hours: float) -> str:
    """The histogram counter an observation of `hours` increments."""
    seconds = hours * 3600
    if seconds > DURATION_BOUNDS_SECONDS[-1]:
        return f"{name}|{_FINE}=inf"
    return f"{name}|{_FINE}={DURATION_BOUNDS_SECONDS[bisect.bisect_left(DURATION_BOUNDS_SECONDS, seconds)]}"


def area_indicators(c: Counts) -> dict[str, Any]:
    created = c.get("referrals_created", 0)
    # Rates over the month's cohort: of the referrals created in it, how many were accepted, completed...
    # whenever that happened, each once (see rollups.cohort_counters).
    return {
        "requests": c.get("requests_logged", 0),
        "referrals": created,
        "accepted_pct": ratio(c.get("cohort_accepted", 0), created),
        "completed_with_help_pct": ratio(c.get("cohort_completed|outcome=got_help", 0), c.get("cohort_completed", 0)),
        "time_to_acceptance_hours": {"median": histogram_quantile(c, "time_to_acceptance_h", 0.5),
                                     "p90": histogram_quantile(c, "time_to_acceptance_h", 0.9)},
        "time_to_completion_hours": {"median": histogram_quantile(c, "time_to_completion_h", 0.5),
                                     "p90": histogram_quantile(c, "time_to_completion_h", 0.9)},
        "overdue_pct": ratio(c.get("cohort_overdue", 0), created),
        "decline_reasons": breakdown(c, "referrals_declined").get("reason", {}),
        "needing_manual_routing": c.get("referrals_needing_manual_routing", 0),
        "requests_by": breakdown(c, "requests_logged"),
        "referrals_by": breakdown(c, "referrals_created"),
    }


# Which dimension each kind of governance instrument is evidence for (the register's instruments).
INSTRUMENT_KINDS: dict[int, tuple[str, ...]] = {1: ("law", "decree", "municipal_plan"), 3: ("committee", "council"),
                                                5: ("partnership_agreement",)}


MIGRANT_SEATS = "migrant_seats"


def instrument_changes(months: Mapping[str, Counts]) -> dict[str, dict[str, int]]:
    """By month, what the register's instruments changed in it: +1 per kind adopted, -1 per kind ended, and the
    migrant seats (under MIGRANT_SEATS) they brought or took; months without any are left out at the cost of one
    look-up (the plain `instruments_adopted`/`instruments_ended` counters are there whenever one happened)."""
    changes: dict[str, dict[str, int]] = {}
    for month, counts in months.items():
        if "instruments_adopted" not in counts and "instruments_ended" not in counts:
            continue
        change: dict[str, int] = {}
        for sign, step in ((1, "adopted"), (-1, "ended")):
            for kind, n in breakdown(counts, f"instruments_{step}").get("kind", {}).items():
                change[kind] = change.get(kind, 0) + sign * n
            change[MIGRANT_SEATS] = change.get(MIGRANT_SEATS, 0) + sign * counts.get(f"migrant_seats_{step}", 0)
        changes[month] = change
    return changes


def standing_at(changes: Mapping[str, Mapping[str, int]], period: str) -> dict[str, int]:
    """The instruments in force at the end of `period` (YYYY-MM) by kind, and the migrant seats they hold."""
    total: dict[str, int] = {}
    for month, change in changes.items():
        if month <= period:
            for key, n in change.items():
                total[key] = total.get(key, 0) + n
    return {key: n for key, n in sorted(total.items()) if n}


def instruments_in_force(months: Mapping[str, Counts], period: str) -> dict[str, int]:
    """By kind, the register's instruments in force at the end of `period` (a month, YYYY-MM): adopted in it or
    before, and not ended by then. `months` are the desk-wide (`_all`) counters of every month."""
    standing = standing_at(instrument_changes(months), period)
    return {kind: n for kind, n in standing.items() if kind != MIGRANT_SEATS}


def _of_kinds(counts: Mapping[str, int], kinds: tuple[str, ...]) -> dict[str, int]:
    return {kind: counts[kind] for kind in kinds if counts.get(kind)}


def governance_indicators(buckets: Mapping[str, Counts], in_force: Mapping[str, int] | None = None
                          ) -> dict[int, dict[str, Any]]:
    """All ten dimensions for one municipality and period, from its buckets of counters; `in_force`: the
    register's instruments in force at the end of the period, by kind (see instruments_in_force)."""
    in_force = in_force or {}
    overall: Counts = buckets.get("_all", {})
    desk: Counts = buckets.get("desk", {})
    requests = overall.get("requests_logged", 0)
    partners: dict[str, dict[str, int]] = {}
    for area in ServiceArea:
        for agency, n in breakdown(buckets.get(area.value, {}), "referrals_created").get("agency", {}).items():
            partners.setdefault(agency, {"referrals": 0, "accepted": 0})["referrals"] += n
        for agency, n in breakdown(buckets.get(area.value, {}), "cohort_accepted").get("agency", {}).items():
            partners.setdefault(agency, {"referrals": 0, "accepted": 0})["accepted"] += n
    result: dict[int, dict[str, Any]] = {
        1: {"cases_opened": overall.get("cases_opened", 0), "requests_logged": requests,
            "requests_resolved_at_desk": desk.get("requests_logged", 0),
            "time_request_to_referral_hours": {
                "median": histogram_quantile(overall, "request_to_referral_h", 0.5),
                "p90": histogram_quantile(overall, "request_to_referral_h", 0.9)},
            "instruments_in_force": _of_kinds(in_force, INSTRUMENT_KINDS[1]),
            "mapping_studies": overall.get("mapping_studies", 0), "projects": overall.get("projects", 0)},
        2: {"trainings_held": overall.get("trainings_held", 0),
            "servants_trained": overall.get("servants_trained", 0),
            "servants_trained_by_sector": breakdown(overall, "servants_trained").get("sector", {}),
            "awareness_campaigns": overall.get("awareness_campaigns", 0),
            "awareness_campaigns_by_audience": breakdown(overall, "awareness_campaigns").get("audience", {}),
            "people_reached": overall.get("people_reached", 0)},
        3: {"participation_events": overall.get("participation_events", 0),
            "participation_events_by_kind": breakdown(overall, "participation_events").get("kind", {}),
            "migrant_participants": overall.get("migrant_participants", 0),
            "advocacy_actions": overall.get("advocacy_actions", 0),
            "bodies_with_migrant_seats_in_force": _of_kinds(in_force, INSTRUMENT_KINDS[3])},
        4: {"cases_attended_in_own_language_pct": ratio(overall.get("cases_attended_in_own_language", 0),
                                                        overall.get("cases_opened", 0)),
            "information_materials": overall.get("information_materials", 0),
            "information_materials_by_language": breakdown(overall, "information_materials").get("language", {})},
        5: {"active_partner_agencies": len(partners),
            "per_partner": {agency: {**v, "acceptance_rate": ratio(v["accepted"], v["referrals"])}
                            for agency, v in sorted(partners.items())},
            "partnership_agreements_in_force": in_force.get("partnership_agreement", 0),
            "network_meetings": overall.get("network_meetings", 0)},
    }
    for area, dimension in AREA_DIMENSION.items():
        result[dimension] = area_indicators(buckets.get(area.value, {}))
    return result


def disaggregation_table(buckets: Mapping[str, Counts], counter: str, dimension: str
                         ) -> tuple[list[str], list[str], list[list[int]]]:
    """Rows: the values of `dimension` (e.g. each nationality); columns: the five service areas plus requests
    resolved at the desk; cells: `counter` counts. Built from the disaggregated rollup counters."""
    areas = [area.value for area in ServiceArea] + ["desk"]
    by_area = {area: breakdown(buckets.get(area, {}), counter).get(dimension, {}) for area in areas}
    rows = sorted({label for counts in by_area.values() for label in counts})
    cells = [[by_area[area].get(row, 0) for area in areas] for row in rows]
    return rows, areas, cells
