"""The coordinators' dashboard: what each of the ten MigraCidades dimensions publishes for a month (pure).

A dimension's page is a list of tables, each a grid of published values: the indicators of the month (and of the
month compared with), their trend over the last twelve months, and breakdowns (by nationality, sex, age band,
migratory status, language, service area, partner agency...). The exports (CSV, XLSX, PDF) write the very same
tables, so a figure reads the same on the screen and on paper.

Small cells are suppressed as the evidence endpoint does it: the requests of a service area by each
disaggregation are columns of `reports.evidence_tables`, the referrals' are columns of the same cross tables of
referrals, suppressed together as they share their totals (`suppress_linked`); a count published on its own
(accepted, overdue, trainings held...) is a table of one cell, so it shows "<5" when small. A figure that could
give a hidden one away is hidden too ("x"): a rate whose numerator or denominator is hidden, a duration quantile
whose observations are few, a total that one of the linked tables hides.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Literal

from migradesk_metrics.domain.indicators import (
    AREA_DIMENSION,
    DIMENSIONS,
    INSTRUMENT_KINDS,
    MIGRANT_SEATS,
    Counts,
    IndexedCounts,
    breakdown,
    disaggregation_table,
    histogram_quantile,
    instrument_changes,
    standing_at,
)
from migradesk_metrics.domain.reports import evidence_tables, linked_groups
from migradesk_metrics.domain.rollups import ALL_AREAS, AT_DESK
from migradesk_metrics.domain.suppression import SuppressedTable, suppress, suppress_linked
from migradesk_shared.contracts.vocabulary import ServiceArea

# {period: {area: counters}}: every month of a municipality, as reports.by_period gives them.
Periods = Mapping[str, Mapping[str, Counts]]

Unit = Literal["count", "pct", "hours"]
# The disaggregations the dimension pages break figures down by (the rollups keep three more, for dimension 10's
# equality indicators, that the evidence endpoint publishes).
BREAKDOWNS: tuple[str, ...] = ("nationality", "sex", "age_band", "migratory_status", "language")
TREND_MONTHS = 12
HIDDEN = "x"  # the secondary-suppression mark of suppression.suppress
AREA_OF_DIMENSION: dict[int, ServiceArea] = {dimension: area for area, dimension in AREA_DIMENSION.items()}
AREA_COLUMNS: tuple[str, ...] = (*(area.value for area in ServiceArea), AT_DESK)


@dataclass(frozen=True)
class Value:
    """One published figure: a count, a share (0..1), hours; a string when suppressed ("<5", "x"); None when there
    is nothing to measure (no denominator, no observation: "no data" is not 0). Hours beyond the histograms'
    last bound are float('inf')."""

    figure: int | float | str | None
    unit: Unit = "count"

    @property
    def suppressed(self) -> bool:
        return isinstance(self.figure, str)


@dataclass(frozen=True)
class Table:
    """A published table: rows (codes: a month, a nationality, an indicator...) by columns (keys), and the column
    totals where the rows add up to them."""

    key: str
    row_kind: str  # what a row is: "indicator", "month", "nationality", "agency", "area"...
    columns: tuple[str, ...]
    rows: tuple[str, ...]
    cells: tuple[tuple[Value, ...], ...]
    totals: tuple[Value, ...] | None = None

    def column(self, key: str) -> tuple[Value, ...]:
        index = self.columns.index(key)
        return tuple(row[index] for row in self.cells)


@dataclass(frozen=True)
class DimensionView:
    """One dimension for one month, compared with another: `tables[0]` holds its indicators (a column per month),
    then its trend, then its breakdowns. Without data for the month, only the trend is there (when some month of
    it has data)."""

    dimension: int
    period: str
    compare: str | None
    has_data: bool
    tables: tuple[Table, ...]

    @property
    def title(self) -> str:
        return DIMENSIONS[self.dimension]

    def table(self, key: str) -> Table | None:
        return next((t for t in self.tables if t.key == key), None)


# --- months ------------------------------------------------------------------------------------------------


def is_year(period: str) -> bool:
    return len(period) == 4


def period_before(period: str) -> str:
    """The period compared with by default: the month before a month, the year before a year."""
    return f"{int(period) - 1:04d}" if is_year(period) else month_before(period)


def months_of(year: str) -> list[str]:
    return [f"{year}-{month:02d}" for month in range(1, 13)]


def month_before(period: str, months: int = 1) -> str:
    year, month = (int(part) for part in period.split("-"))
    index = year * 12 + month - 1 - months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def months_up_to(period: str, count: int) -> list[str]:
    """The `count` months ending with `period`, oldest first."""
    return [month_before(period, back) for back in range(count - 1, -1, -1)]


# --- what a month publishes ----------------------------------------------------------------------------------


def _one(count: int, threshold: int) -> int | str:
    """A count published alone: a table of one cell, suppressed as every published table is."""
    return suppress([[count]], threshold=threshold).cells[0][0]


def _rate(numerator: int | str, denominator: int | str) -> Value:
    if isinstance(numerator, str) or isinstance(denominator, str):
        return Value(HIDDEN, "pct")  # a share of hidden figures would give them away
    return Value(None if denominator == 0 else round(numerator / denominator, 4), "pct")


def _hidden_if_any(shown: Sequence[int | str]) -> int | str:
    """A figure several linked tables publish: hidden wherever one of them hides it."""
    strings = [v for v in shown if isinstance(v, str)]
    return strings[0] if strings else (shown[0] if shown else 0)


@dataclass
class Month:
    """The published tables and figures of one month, computed once and shared by every dimension."""

    areas: Mapping[str, Counts]
    threshold: int
    # The register's instruments in force at the month's end, by kind, and the migrant seats they hold.
    standing: Mapping[str, int] = field(default_factory=dict)
    _cross: dict[str, dict[str, SuppressedTable]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not any(self.areas.values())

    def counts(self, area: str) -> Counts:
        return self.areas.get(area, {})

    def one(self, area: str, counter: str) -> int | str:
        return _one(self.counts(area).get(counter, 0), self.threshold)

    @cached_property
    def requests_by(self) -> dict[str, SuppressedTable]:
        """The evidence endpoint's tables: requests by each disaggregation (rows) and service area (columns)."""
        return evidence_tables(self.areas, self.threshold)

    @cached_property
    def referrals_by(self) -> dict[str, SuppressedTable]:
        """The same cross tables of the referrals made, suppressed the same way."""
        built: dict[str, tuple[list[str], list[str], list[list[int]]]] = {}
        for dimension in BREAKDOWNS:
            rows, cols, cells = disaggregation_table(self.areas, "referrals_created", dimension)
            if rows:
                built[f"referrals_by_{dimension}"] = (rows, cols, cells)
        # The tables share the referrals per area: suppressed one at a time, one table's hidden total would be
        # read off another's.
        tables: dict[str, SuppressedTable] = {}
        for names in linked_groups({name: (cols, cells) for name, (_, cols, cells) in built.items()}):
            suppressed = suppress_linked([built[n][2] for n in names], row_labels=[built[n][0] for n in names],
                                         col_labels=built[names[0]][1], threshold=self.threshold)
            tables |= dict(zip(names, suppressed, strict=True))
        return {name: tables[name] for name in built}

    def total(self, tables: Mapping[str, SuppressedTable], column: str, plain: int) -> int | str:
        """A column's total as the cross tables publish it; the plain count when there is no table."""
        shown = [t.col_totals[t.col_labels.index(column)] for t in tables.values() if column in t.col_labels]
        return _hidden_if_any(shown) if shown else _one(plain, self.threshold)

    def requests(self, area: str) -> int | str:
        return self.total(self.requests_by, area, self.counts(area).get("requests_logged", 0))

    def referrals(self, area: str) -> int | str:
        return self.total(self.referrals_by, area, self.counts(area).get("referrals_created", 0))

    def column_of(self, table: SuppressedTable | None, column: str) -> dict[str, int | str]:
        if table is None or column not in table.col_labels:
            return {}
        index = table.col_labels.index(column)
        return {label: row[index] for label, row in zip(table.row_labels, table.cells, strict=True)}

    def quantile(self, area: str, histogram: str, q: float, observations: int | str) -> Value:
        if isinstance(observations, str):
            return Value(HIDDEN, "hours")  # a few observations' median would describe those few cases
        return Value(histogram_quantile(self.counts(area), histogram, q), "hours")

    def one_column(self, area: str, counter: str, dimension: str) -> SuppressedTable | None:
        """A breakdown of one bucket's counter (trainings by sector, cases by nationality...), as a table of one
        column whose total is the counter."""
        found = breakdown(self.counts(area), counter).get(dimension, {})
        if not found:
            return None
        labels = sorted(found)
        return suppress([[found[label]] for label in labels], row_labels=labels, col_labels=[counter],
                        threshold=self.threshold)


class Dashboard:
    """Every month of a municipality, published: the dimension views are built from it."""

    def __init__(self, periods: Periods, threshold: int) -> None:
        self.periods = periods
        self.threshold = threshold
        self._months: dict[str, Month] = {}
        # Instruments stand from their adoption to their end: a month's figures need every month before it.
        self._instrument_changes = instrument_changes({p: areas.get(ALL_AREAS, {}) for p, areas in periods.items()})

    def month(self, period: str) -> Month:
        if period not in self._months:
            self._months[period] = Month(self.periods.get(period, {}), self.threshold,
                                         standing_at(self._instrument_changes, period))
        return self._months[period]

    @property
    def months_with_data(self) -> list[str]:
        return sorted(p for p, areas in self.periods.items() if any(areas.values()))

    def overview(self, period: str, compare: str | None) -> list[DimensionView]:
        return [self.dimension(d, period, compare) for d in DIMENSIONS]

    @property
    def years_with_data(self) -> list[str]:
        return sorted({month[:4] for month in self.months_with_data})

    # A year publishes only what its months' published figures determine: a count is their sum where every
    # month shows its count, else the interval the months' labels allow ("<5" is 1 to threshold-1), or "x" when a
    # month hides it as "x"; a share only where its counts are exact and every month shows it. Published beside
    # the months, a year's exact total would give away the one month that hides a count; a function of what is
    # already published gives away nothing. (Times are read from the year's summed histograms: they describe
    # many durations, not a count, and show where the year's published count of them is at least the
    # threshold.)
    def _year(self, dimension: int, year: str, compare: str | None) -> DimensionView:
        spec = _SPECS[dimension]
        months = [self.dimension(dimension, month, None) for month in months_of(year)]
        has_data = any(view.has_data for view in months)
        compared = [year] + ([compare] if compare else [])
        columns = [self._year_indicators(dimension, p) for p in compared]
        indicators = Table("indicators", "indicator", tuple(compared), tuple(key for key, _ in spec.indicators),
                           tuple(tuple(column[i] for column in columns) for i in range(len(spec.indicators))))
        trend_rows = []
        for view in months:
            published = view.table("indicators")
            row = dict(zip(published.rows, published.column(view.period), strict=True)) if published else {}
            trend_rows.append(tuple(row.get(key, Value(None)) for key in spec.trend))
        trend = Table("trend", "month", spec.trend, tuple(months_of(year)), tuple(trend_rows))
        tables: list[Table] = [indicators, trend] if has_data else []
        if has_data:
            tables.extend(_combined_breakdowns([t for view in months for t in view.tables
                                                if t.key not in ("indicators", "trend")]))
        return DimensionView(dimension, year, compare, has_data, tuple(tables))

    def _year_indicators(self, dimension: int, year: str) -> tuple[Value, ...]:
        """A year's indicators of one dimension: counts from the months' published counts, shares and times from
        the year's sums where that publishes nothing new."""
        spec = _SPECS[dimension]
        monthly = []
        for month in months_of(year):
            view = self.dimension(dimension, month, None)
            table = view.table("indicators")
            monthly.append(dict(zip(table.rows, table.column(month), strict=True)) if table else {})
        summed = self._year_month(year)
        counts_exact = True
        values: list[Value] = []
        published: dict[str, Value] = {}
        for key, compute in spec.indicators:
            computed = compute(summed)
            if computed.unit == "count" and key not in _STANDING:
                value = _sum_published([m.get(key, Value(0)) for m in monthly])
                counts_exact = counts_exact and not value.suppressed
            elif computed.unit == "pct" and any(m.get(key, Value(None)).suppressed for m in monthly):
                # A rate over the cohorts counts what no month publishes (a cohort's acceptances): with the
                # months' shown rates, the year's would give away the one month that hides its own.
                value = Value(HIDDEN, "pct")
            elif computed.unit == "hours" and key in _OBSERVED_BY:
                # Whether the summed observations reach the threshold would narrow months that hide theirs:
                # decided by the lowest count the published figures allow instead.
                value = (computed if _lowest(published[_OBSERVED_BY[key]]) >= self.threshold
                         else Value(HIDDEN, "hours"))
            else:
                value = computed
            published[key] = value
            values.append(value)
        if not any(monthly):  # no month of the year has data for the dimension: "no data", not zeros
            return tuple(Value(None, v.unit) for v in values)
        # A share of counts a month hides would narrow them: shown only where every count of the year is exact.
        return tuple(Value(HIDDEN, v.unit) if v.unit == "pct" and not counts_exact and v.figure is not None else v
                     for v in values)

    def _year_month(self, year: str) -> Month:
        """The year's counters summed month by month, with what stands at its end."""
        areas: dict[str, dict[str, int]] = {}
        for month in months_of(year):
            for area, counts in self.periods.get(month, {}).items():
                total = areas.setdefault(area, {})
                for key, n in counts.items():
                    total[key] = total.get(key, 0) + n
        return Month({area: IndexedCounts(counts) for area, counts in areas.items()}, self.threshold,
                     standing_at(self._instrument_changes, f"{year}-12"))

    def headlines(self, period: str, compare: str | None) -> list[DimensionView]:
        """The ten dimensions with their indicators only (no trend, no breakdown): what the overview page shows,
        at a fraction of the cost of `overview` (a trend needs twelve months' tables)."""
        if is_year(period):
            views = [self.dimension(d, period, compare) for d in DIMENSIONS]
            return [replace(view, tables=view.tables[:1]) for view in views]
        compared = [period] + ([compare] if compare else [])
        views = []
        for dimension in DIMENSIONS:
            spec = _SPECS[dimension]
            has_data = spec.has_data(self.month(period))
            tables = (_indicator_table(spec, [self.month(p) for p in compared], compared),) if has_data else ()
            views.append(DimensionView(dimension, period, compare, has_data, tables))
        return views

    def requests_by_area(self, period: str) -> Table | None:
        """Dimension 1's requests by service area (the overview's chart); None without any request."""
        if is_year(period):
            return self.dimension(1, period, None).table("requests_by_area")
        month = self.month(period)
        return _requests_by_area(month)[0] if _INSTITUTIONAL.has_data(month) else None

    def dimension(self, dimension: int, period: str, compare: str | None) -> DimensionView:
        if dimension not in DIMENSIONS:
            raise ValueError(f"no dimension {dimension}: the dimensions are 1 to {len(DIMENSIONS)}")
        if is_year(period):
            return self._year(dimension, period, compare)
        spec = _SPECS[dimension]
        month = self.month(period)
        has_data = spec.has_data(month)
        compared = [period] + ([compare] if compare else [])
        indicators = _indicator_table(spec, [self.month(p) for p in compared], compared)
        trend_months = months_up_to(period, TREND_MONTHS)
        trend = _trend_table(spec, [(p, self.month(p)) for p in trend_months])
        tables: list[Table] = []
        if has_data:
            tables.append(indicators)
        if any(spec.has_data(self.month(p)) for p in trend_months):
            tables.append(trend)
        if has_data:
            tables.extend(spec.breakdowns(month))
        return DimensionView(dimension, period, compare, has_data, tuple(tables))


# --- a year from its months ----------------------------------------------------------------------------------

RANGE_DASH = "–"
# Counts of a year that are not the sum of its months: what stands at its end (instruments, seats), and agencies
# counted once however many months they served. They count acts and agencies, not people: published as they are.
_STANDING = frozenset({"instruments_in_force", "bodies_with_migrant_seats", "migrant_seats",
                       "partnership_agreements_in_force", "active_partner_agencies"})


# The count whose observations a time describes (a year's time shows where that count's published lowest value
# reaches the threshold).
_OBSERVED_BY = {"time_to_acceptance_median": "accepted", "time_to_acceptance_p90": "accepted",
                "time_to_completion_median": "completed", "time_to_completion_p90": "completed"}


def _lowest(value: Value) -> int:
    """The lowest count a published figure allows: itself, an interval's low end, 0 for hidden or no data."""
    figure = value.figure
    if isinstance(figure, int):
        return figure
    if isinstance(figure, str) and RANGE_DASH in figure:
        return int(figure.split(RANGE_DASH)[0])
    return 0


def _sum_published(values: Sequence[Value]) -> Value:
    """The sum of counts as published: exact when every one is, else the interval their labels allow ("<N" is 1
    to N-1, so "lo–hi"), hidden ("x") when one is hidden outright, None when none has data."""
    if all(v.figure is None for v in values):
        return Value(None)
    low = high = 0
    for value in values:
        figure = value.figure
        if figure is None:
            continue
        if isinstance(figure, str):
            if not figure.startswith("<"):
                return Value(HIDDEN)  # an "x", or an interval already: what it hides has no published bound
            low, high = low + 1, high + int(figure[1:]) - 1
        elif isinstance(figure, int):
            low, high = low + figure, high + figure
        else:
            return Value(HIDDEN)
    return Value(low) if low == high else Value(f"{low}{RANGE_DASH}{high}")


def _combined_breakdowns(monthly: Sequence[Table]) -> list[Table]:
    """The year's breakdown tables: each the months' tables of its key added cell by cell as published (a row a
    month lacks counts 0 there), their totals likewise."""
    by_key: dict[str, list[Table]] = {}
    for table in monthly:
        by_key.setdefault(table.key, []).append(table)
    combined = []
    for key, tables in by_key.items():
        first = tables[0]
        if any(t.columns != first.columns for t in tables):
            continue  # the same key with other columns: nothing to add up
        rows = sorted({row for t in tables for row in t.rows})
        cells = [_combined_row(first.columns, [t.cells[t.rows.index(row)] for t in tables if row in t.rows])
                 for row in rows]
        totals = (_combined_row(first.columns, [t.totals for t in tables if t.totals is not None])
                  if all(t.totals is not None for t in tables) else None)
        combined.append(Table(key, first.row_kind, first.columns, tuple(rows), tuple(cells), totals))
    return combined


def _combined_row(columns: Sequence[str], monthly: Sequence[Sequence[Value]]) -> tuple[Value, ...]:
    """One row of a year's table from the months' rows: counts added as published; the acceptance rate again
    from the year's counts where they are exact; another share or a time cannot be added up (hidden)."""
    values: dict[str, Value] = {}
    for c, column in enumerate(columns):
        cells = [row[c] for row in monthly]
        if all(cell.unit == "count" for cell in cells):
            values[column] = _sum_published(cells)
        elif column == "acceptance_rate":
            accepted = values.get("accepted", Value(None)).figure
            referrals = values.get("referrals", Value(None)).figure
            if isinstance(accepted, int) and isinstance(referrals, int):
                values[column] = _rate(accepted, referrals)
            else:
                values[column] = Value(HIDDEN, "pct")
        else:
            values[column] = Value(HIDDEN, cells[0].unit if cells else "count")
    return tuple(values[column] for column in columns)


# --- the dimensions ------------------------------------------------------------------------------------------

Indicator = tuple[str, Callable[[Month], Value]]


@dataclass(frozen=True)
class DimensionSpec:
    indicators: tuple[Indicator, ...]
    trend: tuple[str, ...]  # the indicators the trend follows (counts)
    has_data: Callable[[Month], bool]
    breakdowns: Callable[[Month], list[Table]]


def _indicator_table(spec: DimensionSpec, months: Sequence[Month], periods: Sequence[str]) -> Table:
    """A column per month; a month without data for the dimension says so rather than showing zeros."""
    return Table("indicators", "indicator", tuple(periods), tuple(key for key, _ in spec.indicators),
                 tuple(tuple(_unless_empty(spec, compute, m) for m in months) for _, compute in spec.indicators))


def _unless_empty(spec: DimensionSpec, compute: Callable[[Month], Value], month: Month) -> Value:
    value = compute(month)
    return value if spec.has_data(month) else Value(None, value.unit)


def _trend_table(spec: DimensionSpec, months: Sequence[tuple[str, Month]]) -> Table:
    computed = dict(spec.indicators)
    return Table("trend", "month", spec.trend, tuple(p for p, _ in months),
                 tuple(tuple(computed[key](m) if spec.has_data(m) else Value(None) for key in spec.trend)
                       for _, m in months))


def _count(area: str, counter: str) -> Callable[[Month], Value]:
    return lambda m: Value(m.one(area, counter))


def _table_of(key: str, row_kind: str, table: SuppressedTable | None) -> list[Table]:
    """A one-column suppressed table as published."""
    if table is None:
        return []
    return [Table(key, row_kind, table.col_labels, table.row_labels,
                  tuple(tuple(Value(v) for v in row) for row in table.cells),
                  tuple(Value(v) for v in table.col_totals))]


def _desk_wide(dimension: str, counter: str) -> Callable[[Month], list[Table]]:
    return lambda m: _table_of(f"{counter}_by_{dimension}", dimension, m.one_column(ALL_AREAS, counter, dimension))


# Dimension 1: the desk itself.
def _requests_by_area(m: Month) -> list[Table]:
    """Requests per service area (and resolved at the desk), as the evidence tables' column totals publish them."""
    figures = [m.requests(area) for area in AREA_COLUMNS]
    grand = _hidden_if_any([t.grand_total for t in m.requests_by.values()]) if m.requests_by else 0
    return [Table("requests_by_area", "area", ("requests",), AREA_COLUMNS,
                  tuple((Value(v),) for v in figures), (Value(grand),))]


def _cases_by(m: Month) -> list[Table]:
    return [t for dimension in BREAKDOWNS for t in _desk_wide(dimension, "cases_opened")(m)]


# The register's instruments are the municipality's own acts and bodies, not people: their counts are published
# as they are (suppression protects people from being recognised; a law cannot be).
def _in_force(dimension: int) -> Callable[[Month], Value]:
    return lambda m: Value(sum(m.standing.get(kind, 0) for kind in INSTRUMENT_KINDS[dimension]))


def _instruments_by_kind(dimension: int) -> Callable[[Month], list[Table]]:
    def tables(m: Month) -> list[Table]:
        kinds = tuple(kind for kind in INSTRUMENT_KINDS[dimension] if m.standing.get(kind))
        if not kinds:
            return []
        return [Table(f"instruments_in_force_{dimension}", "instrument_kind", ("instruments_in_force",), kinds,
                      tuple((Value(m.standing[kind]),) for kind in kinds),
                      (Value(sum(m.standing[kind] for kind in kinds)),))]
    return tables


def _any_of(m: Month, *counters: str) -> bool:
    counts = m.counts(ALL_AREAS)
    return any(counts.get(counter) for counter in counters)


_INSTITUTIONAL = DimensionSpec(
    indicators=(("cases_opened", _count(ALL_AREAS, "cases_opened")),
                ("requests_logged", _count(ALL_AREAS, "requests_logged")),
                ("requests_resolved_at_desk", lambda m: Value(m.requests(AT_DESK))),
                ("time_request_to_referral_median", lambda m: m.quantile(ALL_AREAS, "request_to_referral_h", 0.5, 0)),
                ("time_request_to_referral_p90", lambda m: m.quantile(ALL_AREAS, "request_to_referral_h", 0.9, 0)),
                ("instruments_in_force", _in_force(1)),
                ("mapping_studies", _count(ALL_AREAS, "mapping_studies")),
                ("projects", _count(ALL_AREAS, "projects"))),
    trend=("cases_opened", "requests_logged", "requests_resolved_at_desk", "instruments_in_force"),
    has_data=lambda m: _any_of(m, "cases_opened", "requests_logged", "mapping_studies", "projects")
    or bool(_in_force(1)(m).figure),
    breakdowns=lambda m: [*_requests_by_area(m), *_cases_by(m), *_instruments_by_kind(1)(m)],
)

# Dimension 2: training of public servants.
_TRAINING = DimensionSpec(
    indicators=(("trainings_held", _count(ALL_AREAS, "trainings_held")),
                ("servants_trained", _count(ALL_AREAS, "servants_trained")),
                ("awareness_campaigns", _count(ALL_AREAS, "awareness_campaigns")),
                ("people_reached", _count(ALL_AREAS, "people_reached"))),
    trend=("trainings_held", "servants_trained", "awareness_campaigns"),
    has_data=lambda m: _any_of(m, "trainings_held", "awareness_campaigns"),
    breakdowns=lambda m: [*_desk_wide("sector", "servants_trained")(m),
                          *_desk_wide("audience", "awareness_campaigns")(m)],
)

# Dimension 3: social and cultural participation.
_PARTICIPATION = DimensionSpec(
    indicators=(("participation_events", _count(ALL_AREAS, "participation_events")),
                ("migrant_participants", _count(ALL_AREAS, "migrant_participants")),
                ("advocacy_actions", _count(ALL_AREAS, "advocacy_actions")),
                ("bodies_with_migrant_seats", _in_force(3)),
                ("migrant_seats", lambda m: Value(m.standing.get(MIGRANT_SEATS, 0)))),
    trend=("participation_events", "migrant_participants", "bodies_with_migrant_seats"),
    has_data=lambda m: _any_of(m, "participation_events", "advocacy_actions") or bool(_in_force(3)(m).figure),
    breakdowns=lambda m: [*_desk_wide("kind", "participation_events")(m), *_instruments_by_kind(3)(m)],
)


# Dimension 4: transparency and access to information.
def _in_own_language(m: Month) -> Value:
    return _rate(m.one(ALL_AREAS, "cases_attended_in_own_language"), m.one(ALL_AREAS, "cases_opened"))


_TRANSPARENCY = DimensionSpec(
    indicators=(("cases_opened", _count(ALL_AREAS, "cases_opened")),
                ("cases_attended_in_own_language", _count(ALL_AREAS, "cases_attended_in_own_language")),
                ("cases_attended_in_own_language_pct", _in_own_language),
                ("information_materials", _count(ALL_AREAS, "information_materials"))),
    trend=("cases_attended_in_own_language", "information_materials"),
    has_data=lambda m: bool(m.counts(ALL_AREAS).get("cases_opened")
                            or m.counts(ALL_AREAS).get("information_materials")),
    breakdowns=_desk_wide("language", "information_materials"),
)


# Dimension 5: institutional partnerships; and each service area's partners on its own page.
def _per_agency(m: Month, areas: Sequence[str]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for area in areas:
        # The month's referrals, and how many of those were accepted and declined (whenever that happened).
        for i, counter in enumerate(("referrals_created", "cohort_accepted", "cohort_declined")):
            for agency, n in breakdown(m.counts(area), counter).get("agency", {}).items():
                found.setdefault(agency, [0, 0, 0])[i] += n
    return found


def _partners(m: Month, areas: Sequence[str]) -> list[Table]:
    """Referrals, acceptances and declines per partner agency, and the acceptance rate where both of its figures
    show. An agency's row has no total (its figures are not parts of one whole), so each column is a table of its
    own: the agencies' figures and their total."""
    found = _per_agency(m, areas)
    if not found:
        return []
    agencies = sorted(found)
    columns = ("referrals", "accepted", "declined")
    published = [suppress([[found[a][i]] for a in agencies], row_labels=agencies, col_labels=[column],
                          threshold=m.threshold) for i, column in enumerate(columns)]
    rows = tuple((*(Value(t.cells[r][0]) for t in published),
                  _rate(published[1].cells[r][0], published[0].cells[r][0])) for r in range(len(agencies)))
    totals = (*(Value(t.col_totals[0]) for t in published),
              _rate(published[1].col_totals[0], published[0].col_totals[0]))
    return [Table("partners", "agency", (*columns, "acceptance_rate"), tuple(agencies), rows, totals)]


_AREAS = tuple(area.value for area in ServiceArea)
_PARTNERSHIPS = DimensionSpec(
    indicators=(("active_partner_agencies", lambda m: Value(len(_per_agency(m, _AREAS)))),
                ("referrals", lambda m: Value(m.one(ALL_AREAS, "referrals_created"))),
                ("partnership_agreements_in_force", _in_force(5)),
                ("network_meetings", _count(ALL_AREAS, "network_meetings"))),
    trend=("active_partner_agencies", "referrals", "partnership_agreements_in_force"),
    has_data=lambda m: bool(_per_agency(m, _AREAS)) or _any_of(m, "network_meetings")
    or bool(_in_force(5)(m).figure),
    breakdowns=lambda m: _partners(m, _AREAS),
)


# Dimensions 6-10: one service area each.
def _area_spec(area: str) -> DimensionSpec:
    def accepted(m: Month) -> int | str:
        return m.one(area, "referrals_accepted")

    def completed(m: Month) -> int | str:
        return m.one(area, "referrals_completed")

    def overdue(m: Month) -> int | str:
        return m.one(area, "referrals_overdue")

    # Rates are over the month's cohort: its referrals, and what became of them whenever it happened (a
    # referral created on the 31st and accepted on the 1st counts in the month it was created, once).
    def cohort(m: Month, counter: str) -> int | str:
        return m.one(area, f"cohort_{counter}")

    def breakdowns(m: Month) -> list[Table]:
        tables = [*_partners(m, [area])]
        declines = m.one_column(area, "referrals_declined", "reason")
        tables += _table_of("decline_reasons", "reason", declines)
        for dimension in BREAKDOWNS:
            requests = m.column_of(m.requests_by.get(f"requests_by_{dimension}"), area)
            referrals = m.column_of(m.referrals_by.get(f"referrals_by_{dimension}"), area)
            labels = sorted(label for label in {*requests, *referrals}
                            if requests.get(label, 0) != 0 or referrals.get(label, 0) != 0)
            if labels:
                tables.append(Table(
                    f"by_{dimension}", dimension, ("requests", "referrals"), tuple(labels),
                    tuple((Value(requests.get(label, 0)), Value(referrals.get(label, 0))) for label in labels),
                    (Value(m.requests(area)), Value(m.referrals(area)))))
        return tables

    return DimensionSpec(
        indicators=(
            ("requests", lambda m: Value(m.requests(area))),
            ("referrals", lambda m: Value(m.referrals(area))),
            ("accepted", lambda m: Value(accepted(m))),
            ("accepted_pct", lambda m: _rate(cohort(m, "accepted"), m.referrals(area))),
            ("completed", lambda m: Value(completed(m))),
            ("completed_with_help_pct", lambda m: _rate(cohort(m, "completed|outcome=got_help"),
                                                        cohort(m, "completed"))),
            ("time_to_acceptance_median", lambda m: m.quantile(area, "time_to_acceptance_h", 0.5, accepted(m))),
            ("time_to_acceptance_p90", lambda m: m.quantile(area, "time_to_acceptance_h", 0.9, accepted(m))),
            ("time_to_completion_median", lambda m: m.quantile(area, "time_to_completion_h", 0.5, completed(m))),
            ("time_to_completion_p90", lambda m: m.quantile(area, "time_to_completion_h", 0.9, completed(m))),
            ("overdue", lambda m: Value(overdue(m))),
            ("overdue_pct", lambda m: _rate(cohort(m, "overdue"), m.referrals(area))),
            ("declined", lambda m: Value(m.one(area, "referrals_declined"))),
            ("needing_manual_routing", lambda m: Value(m.one(area, "referrals_needing_manual_routing")))),
        trend=("requests", "referrals", "accepted", "completed"),
        has_data=lambda m: any(m.counts(area).values()),
        breakdowns=breakdowns,
    )


_SPECS: dict[int, DimensionSpec] = {
    1: _INSTITUTIONAL, 2: _TRAINING, 3: _PARTICIPATION, 4: _TRANSPARENCY, 5: _PARTNERSHIPS,
    **{dimension: _area_spec(area.value) for dimension, area in AREA_OF_DIMENSION.items()},
}
