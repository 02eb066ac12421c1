"""Small-cell suppression for published tables (DESIGN.md §4).

A count from 1 to threshold-1 identifies too few people to publish: it shows as "<5" (primary suppression).
Row and column totals are published, so a lone hidden cell in a row could be recomputed by subtraction; more
cells are hidden ("x", secondary suppression) until no hidden cell is determined by the published figures.

A hidden cell is determined exactly when its unit vector lies in the row space of the linear system formed by
the published totals (cells known, totals known). That is checked with exact rational arithmetic: published
tables are small (a handful of rows and columns).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

DEFAULT_THRESHOLD = 5

# Hidden items: ("cell", r, c), ("row", r, -1) for a row total, ("col", -1, c) for a column total and
# ("grand", -1, -1) for the grand total.
Item = tuple[str, int, int]
GRAND: Item = ("grand", -1, -1)


@dataclass(frozen=True)
class SuppressedTable:
    row_labels: tuple[str, ...]
    col_labels: tuple[str, ...]
    cells: tuple[tuple[int | str, ...], ...]  # an int, "<5" (primary) or "x" (secondary)
    row_totals: tuple[int | str, ...]
    col_totals: tuple[int | str, ...]
    grand_total: int | str
    primary: frozenset[Item]
    secondary: frozenset[Item]

    @property
    def hidden(self) -> frozenset[Item]:
        return self.primary | self.secondary


def _rank(rows: list[list[Fraction]]) -> int:
    matrix = [r[:] for r in rows]
    rank, cols = 0, len(matrix[0]) if matrix else 0
    for col in range(cols):
        pivot = next((i for i in range(rank, len(matrix)) if matrix[i][col] != 0), None)
        if pivot is None:
            continue
        matrix[rank], matrix[pivot] = matrix[pivot], matrix[rank]
        for i in range(len(matrix)):
            if i != rank and matrix[i][col] != 0:
                factor = matrix[i][col] / matrix[rank][col]
                matrix[i] = [a - factor * b for a, b in zip(matrix[i], matrix[rank], strict=True)]
        rank += 1
    return rank


def determined(n_rows: int, n_cols: int, hidden: frozenset[Item]) -> frozenset[Item]:
    """Hidden items whose value follows from everything published: the visible cells, the visible row and
    column totals and the grand total (each row and column sums to its total; totals sum to the grand total)."""
    unknowns = sorted(hidden)
    if not unknowns:
        return frozenset()
    index = {item: i for i, item in enumerate(unknowns)}

    def equation(terms: dict[Item, int]) -> list[Fraction]:
        row = [Fraction(0)] * len(unknowns)
        for item, coefficient in terms.items():
            if item in index:
                row[index[item]] = Fraction(coefficient)
        return row

    system = []
    for r in range(n_rows):
        system.append(equation({**{("cell", r, c): 1 for c in range(n_cols)}, ("row", r, -1): -1}))
    for c in range(n_cols):
        system.append(equation({**{("cell", r, c): 1 for r in range(n_rows)}, ("col", -1, c): -1}))
    system.append(equation({**{("row", r, -1): 1 for r in range(n_rows)}, GRAND: -1}))
    system.append(equation({**{("col", -1, c): 1 for c in range(n_cols)}, GRAND: -1}))
    base = _rank(system)
    found = set()
    for item in unknowns:
        unit = [Fraction(0)] * len(unknowns)
        unit[index[item]] = Fraction(1)
        if _rank([*system, unit]) == base:
            found.add(item)
    return frozenset(found)


def suppress(counts: Sequence[Sequence[int]], *, row_labels: Sequence[str] | None = None,
             col_labels: Sequence[str] | None = None, threshold: int = DEFAULT_THRESHOLD) -> SuppressedTable:
    if not counts or not counts[0]:
        raise ValueError("a table needs at least one row and one column")
    n_rows, n_cols = len(counts), len(counts[0])
    if any(len(row) != n_cols for row in counts):
        raise ValueError("every row of the table must have the same number of columns")
    if any(v < 0 for row in counts for v in row):
        raise ValueError("counts cannot be negative")
    values: dict[Item, int] = {("cell", r, c): counts[r][c] for r in range(n_rows) for c in range(n_cols)}
    values |= {("row", r, -1): sum(counts[r]) for r in range(n_rows)}
    values |= {("col", -1, c): sum(counts[r][c] for r in range(n_rows)) for c in range(n_cols)}
    values[GRAND] = sum(values[("row", r, -1)] for r in range(n_rows))
    primary = frozenset(item for item, v in values.items() if 0 < v < threshold)
    hidden = set(primary)
    while True:
        exposed = determined(n_rows, n_cols, frozenset(hidden))
        if not exposed:
            break
        kind, r, c = min(exposed)
        if kind == "cell":
            options = [i for i in values if i[0] == "cell" and (i[1] == r or i[2] == c)]
        else:
            options = [i for i in values if i[0] == kind]
        # Failing a neighbour, any figure; the grand total goes last (only a degenerate table needs it hidden).
        options = [i for i in options if i not in hidden] or [
            i for i in values if i not in hidden and i != GRAND] or [i for i in values if i not in hidden]
        if not options:
            break  # everything is hidden already
        # Hide the smallest figure next to the exposed one (least information lost), preferring a non-zero
        # one: hiding a true zero protects nothing when zeros are structurally obvious.
        hidden.add(min(options, key=lambda i: (values[i] == 0, values[i], i)))
    secondary = frozenset(hidden) - primary

    def shown(item: Item) -> int | str:
        return f"<{threshold}" if item in primary else "x" if item in secondary else values[item]

    return SuppressedTable(
        row_labels=tuple(row_labels or (str(i) for i in range(n_rows))),
        col_labels=tuple(col_labels or (str(i) for i in range(n_cols))),
        cells=tuple(tuple(shown(("cell", r, c)) for c in range(n_cols)) for r in range(n_rows)),
        row_totals=tuple(shown(("row", r, -1)) for r in range(n_rows)),
        col_totals=tuple(shown(("col", -1, c)) for c in range(n_cols)),
        grand_total=shown(GRAND),
        primary=primary, secondary=secondary)
