"""What the dashboard and the evidence report publish, computed from the rollup buckets (pure).

Only counters ever reach this module (never a case, a person or the write guard's offsets), so nothing it
returns can name anybody; the evidence tables are further protected by small-cell suppression.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from migradesk_metrics.domain.indicators import Counts, IndexedCounts, disaggregation_table
from migradesk_metrics.domain.rollups import DISAGGREGATIONS
from migradesk_metrics.domain.suppression import SuppressedTable, suppress, suppress_linked

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
        periods.setdefault(bucket.period, {})[bucket.area] = IndexedCounts(bucket.counts)
    return dict(sorted(periods.items()))


def totals(counts: Counts) -> dict[str, int]:
    """The plain counters, without their disaggregations and histogram buckets (`<counter>|...`)."""
    return {k: v for k, v in counts.items() if "|" not in k}


def area_totals(areas: Areas) -> dict[str, dict[str, int]]:
    """The summary of one period: the plain counters of each area, areas in name order."""
    return {area: totals(counts) for area, counts in sorted(areas.items())}


def published_summary(areas: Areas, threshold: int) -> dict[str, dict[str, int | str]]:
    """The summary of one period as published: the plain counters of each area, its requests replaced by the
    evidence tables' shared totals (hidden where the tables hide them) so the summary cannot undo their
    suppression. Requests the tables do not total (none recorded with a disaggregation) are suppressed alone."""
    shared = shared_totals(evidence_tables(areas, threshold))
    published: dict[str, dict[str, int | str]] = {}
    for area, counts in area_totals(areas).items():
        shown: dict[str, int | str] = dict(counts)
        if "requests_logged" in counts:
            alone = suppress([[counts["requests_logged"]]], threshold=threshold).cells[0][0]
            shown["requests_logged"] = shared.get(area, alone)
        published[area] = shown
    return published


def evidence_tables(areas: Areas, threshold: int) -> dict[str, SuppressedTable]:
    """Requests by each disaggregation and service area, small cells suppressed (primary "<threshold",
    secondary "x") so no hidden count can be recomputed from the published totals, nor narrowed beyond its label.
    A dimension without any request has no table.

    Every table counts the same requests, so the tables share their column totals (requests per area) and their
    grand total: they are suppressed together (`linked_groups`), never each alone."""
    built: dict[str, tuple[list[str], list[str], list[list[int]]]] = {}
    for dimension in DISAGGREGATIONS:
        rows, cols, cells = disaggregation_table(areas, "requests_logged", dimension)
        if rows:
            built[f"requests_by_{dimension}"] = (rows, cols, cells)
    tables: dict[str, SuppressedTable] = {}
    for names in linked_groups({name: (cols, cells) for name, (_, cols, cells) in built.items()}):
        suppressed = suppress_linked([built[n][2] for n in names], row_labels=[built[n][0] for n in names],
                                     col_labels=built[names[0]][1], threshold=threshold)
        tables |= dict(zip(names, suppressed, strict=True))
    return {name: tables[name] for name in built}


def shared_totals(tables: Mapping[str, SuppressedTable]) -> dict[str, int | str]:
    """The requests per area and in all ("_all") as the evidence tables publish them, hidden where they are hidden:
    any other page that shows these totals must show them so, or it undoes the tables' suppression. Empty without
    tables."""
    for table in tables.values():
        return {**dict(zip(table.col_labels, table.col_totals, strict=True)), "_all": table.grand_total}
    return {}


def linked_groups(tables: Mapping[str, tuple[Sequence[str], Sequence[Sequence[int]]]]) -> list[list[str]]:
    """Names of the tables that publish the same column totals, grouped (each group in the order given): a reader
    combines such tables, so each group is suppressed as one. Tables whose margins differ (a dimension recorded
    for part of the requests only) do not share their totals and are suppressed apart."""
    groups: dict[tuple[tuple[str, ...], tuple[int, ...]], list[str]] = {}
    for name, (cols, cells) in tables.items():
        margin = tuple(sum(row[c] for row in cells) for c in range(len(cols)))
        groups.setdefault((tuple(cols), margin), []).append(name)
    return list(groups.values())
