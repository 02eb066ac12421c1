"""What the dashboard and the evidence report publish, computed from the rollup buckets (pure).

Only counters ever reach this module (never a case, a person or the write guard's offsets), so nothing it
returns can name anybody; the evidence tables are further protected by small-cell suppression.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from migradesk_metrics.domain.indicators import Counts, disaggregation_table
from migradesk_metrics.domain.rollups import DISAGGREGATIONS
from migradesk_metrics.domain.suppression import SuppressedTable, suppress

# {area: counters} of one municipality and period.
Areas = Mapping[str, Counts]


@dataclass(frozen=True)
class BucketCounts:
    """The counters of one bucket of a municipality, as read for a report."""

    period: str
    area: str
    counts: Counts


def by_period(buckets: Iterable[BucketCounts]) -> dict[str, dict[str, Counts]]:
    """{period: {area: counters}}, oldest period first."""
    periods: dict[str, dict[str, Counts]] = {}
    for bucket in buckets:
        periods.setdefault(bucket.period, {})[bucket.area] = bucket.counts
    return dict(sorted(periods.items()))


def totals(counts: Counts) -> dict[str, int]:
    """The plain counters, without their disaggregations and histogram buckets (`<counter>|...`)."""
    return {k: v for k, v in counts.items() if "|" not in k}


def area_totals(areas: Areas) -> dict[str, dict[str, int]]:
    """The summary of one period: the plain counters of each area, areas in name order."""
    return {area: totals(counts) for area, counts in sorted(areas.items())}


def evidence_tables(areas: Areas, threshold: int) -> dict[str, SuppressedTable]:
    """Requests by each disaggregation and service area, small cells suppressed (primary "<threshold",
    secondary "x") so no hidden count can be recomputed from the published totals. A dimension without any
    request has no table."""
    tables: dict[str, SuppressedTable] = {}
    for dimension in DISAGGREGATIONS:
        rows, cols, cells = disaggregation_table(areas, "requests_logged", dimension)
        if rows:
            tables[f"requests_by_{dimension}"] = suppress(cells, row_labels=rows, col_labels=cols,
                                                          threshold=threshold)
    return tables
