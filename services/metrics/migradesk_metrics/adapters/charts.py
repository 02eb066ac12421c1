"""Bar charts of the dashboard's tables, drawn on the server as SVG: no script, nothing fetched, printable. A chart
shows one column of counts; the table beside it holds the same numbers for whoever does not see the chart (the
chart itself is one labelled image). A suppressed or missing figure draws no bar, only its mark."""

from __future__ import annotations

from dataclasses import dataclass

from migradesk_metrics.adapters.labels import Names
from migradesk_metrics.domain.dashboard import Table

WIDTH = 640
LABEL_WIDTH = 210
VALUE_WIDTH = 70
ROW_HEIGHT = 26
BAR_HEIGHT = 18


@dataclass(frozen=True)
class Bar:
    label: str
    text: str  # the figure as the table shows it
    y: int
    width: float  # 0 when nothing is drawn


@dataclass(frozen=True)
class Chart:
    title: str
    bars: tuple[Bar, ...]
    height: int
    label_width: int = LABEL_WIDTH
    bar_space: int = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    width: int = WIDTH
    bar_height: int = BAR_HEIGHT


def chart_of(table: Table, names: Names) -> Chart | None:
    """A horizontal bar per row, of the table's first column of counts; None for a table of indicators (their
    units differ) or one without any count to draw."""
    if table.row_kind == "indicator" or not table.cells:
        return None
    column = next((i for i, key in enumerate(table.columns)
                   if all(row[i].unit == "count" for row in table.cells)), None)
    if column is None:
        return None
    figures = [row[column].figure for row in table.cells]
    drawn = [f for f in figures if isinstance(f, int | float) and not isinstance(f, bool)]
    if not drawn:
        return None
    largest = max(max(drawn), 1)
    space = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    bars = tuple(Bar(names.row(table, code), names.value(row[column]), 4 + i * ROW_HEIGHT,
                     space * figure / largest if isinstance(figure, int | float) else 0.0)
                 for i, (code, row, figure) in enumerate(zip(table.rows, table.cells, figures, strict=True)))
    return Chart(f"{names.title(table)}: {names.column(table, table.columns[column])}", bars,
                 8 + len(bars) * ROW_HEIGHT)
