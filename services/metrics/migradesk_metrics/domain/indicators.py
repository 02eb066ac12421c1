"""Indicators for the ten MigraCidades governance dimensions, computed from rollup counters (pure).

Input: the counters of one municipality and period, per area bucket (see rollups.py): `_all` for the whole
desk, one bucket per service area, `desk` for requests resolved at the desk. Counter names follow
`<counter>` or `<counter>|<dimension>=<value>`; duration histograms are `<name>|le=<hours>` bucket counts.
A figure that has no denominator is None, not 0: "no data" and "0 %" are different statements.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from migradesk_shared.contracts.vocabulary import ServiceArea

Counts = Mapping[str, int]

# Upper bounds (hours) of the duration histograms kept by the rollups; the last bucket is open-ended.
DURATION_BUCKETS_HOURS: tuple[float, ...] = (1, 4, 8, 24, 48, 72, 120, 168, 336, 720)

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


def breakdown(counts: Counts, counter: str) -> dict[str, dict[str, int]]:
    """{'nationality': {'VEN': 3, ...}, ...} from the `<counter>|<dimension>=<value>` keys."""
    out: dict[str, dict[str, int]] = {}
    prefix = f"{counter}|"
    for key, value in counts.items():
        if key.startswith(prefix) and "=" in key:
            dimension, _, label = key[len(prefix):].partition("=")
            out.setdefault(dimension, {})[label] = value
    return out


def histogram_quantile(counts: Counts, name: str, q: float) -> float | None:
    """The upper bound (hours) of the histogram bucket holding quantile q; None without observations.
    Values beyond the last bound report float('inf')."""
    if not 0 < q <= 1:
        raise ValueError("quantile must be in (0, 1]")
    buckets = [(bound, counts.get(f"{name}|le={bound:g}", 0)) for bound in DURATION_BUCKETS_HOURS]
    buckets.append((float("inf"), counts.get(f"{name}|le=inf", 0)))
    total = sum(n for _, n in buckets)
    if total == 0:
        return None
    rank, running = q * total, 0
    for bound, n in buckets:
        running += n
        if running >= rank:
            return bound
    return float("inf")


def histogram_key(name: str, hours: float) -> str:
    """The histogram counter an observation of `hours` increments."""
    for bound in DURATION_BUCKETS_HOURS:
        if hours <= bound:
            return f"{name}|le={bound:g}"
    return f"{name}|le=inf"


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


def governance_indicators(buckets: Mapping[str, Counts]) -> dict[int, dict[str, Any]]:
    """All ten dimensions for one municipality and period, from its buckets of counters."""
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
                "p90": histogram_quantile(overall, "request_to_referral_h", 0.9)}},
        2: {"trainings_held": overall.get("trainings_held", 0),
            "servants_trained": overall.get("servants_trained", 0),
            "servants_trained_by_sector": breakdown(overall, "servants_trained").get("sector", {})},
        3: {"participation_events": overall.get("participation_events", 0),
            "migrant_participants": overall.get("migrant_participants", 0)},
        4: {"cases_attended_in_own_language_pct": ratio(overall.get("cases_attended_in_own_language", 0),
                                                        overall.get("cases_opened", 0)),
            "information_materials_by_language": breakdown(overall, "information_materials").get("language", {})},
        5: {"active_partner_agencies": len(partners),
            "per_partner": {agency: {**v, "acceptance_rate": ratio(v["accepted"], v["referrals"])}
                            for agency, v in sorted(partners.items())}},
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
