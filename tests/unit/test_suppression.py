from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migradesk_metrics.domain.suppression import SuppressedTable, suppress


def recover_by_subtraction(table: SuppressedTable) -> dict[tuple[str, int, int], int]:
    """What an attacker recomputes from the published figures: any row, column or the totals line with
    exactly one hidden figure gives it away by subtraction; repeat until nothing more falls out."""
    n_rows, n_cols = len(table.cells), len(table.cells[0])
    known: dict[tuple[str, int, int], int] = {}
    for r in range(n_rows):
        for c in range(n_cols):
            if isinstance(table.cells[r][c], int):
                known[("cell", r, c)] = table.cells[r][c]  # type: ignore[assignment]
    for r, v in enumerate(table.row_totals):
        if isinstance(v, int):
            known[("row", r, -1)] = v
    for c, v in enumerate(table.col_totals):
        if isinstance(v, int):
            known[("col", -1, c)] = v
    grand = table.grand_total if isinstance(table.grand_total, int) else None
    lines = [([("cell", r, c) for c in range(n_cols)], ("row", r, -1)) for r in range(n_rows)]
    lines += [([("cell", r, c) for r in range(n_rows)], ("col", -1, c)) for c in range(n_cols)]
    recovered: dict[tuple[str, int, int], int] = {}
    changed = True
    while changed:
        changed = False
        for parts, total in lines:
            items = [*parts, total]
            unknown = [i for i in items if i not in known]
            if len(unknown) != 1:
                continue
            missing = unknown[0]
            if missing == total:
                value = sum(known[p] for p in parts)
            else:
                value = known[total] - sum(known[p] for p in parts if p != missing)
            known[missing] = recovered[missing] = value
            changed = True
        if grand is not None:
            for totals in ([("row", r, -1) for r in range(n_rows)], [("col", -1, c) for c in range(n_cols)]):
                unknown = [t for t in totals if t not in known]
                if len(unknown) == 1:
                    known[unknown[0]] = recovered[unknown[0]] = grand - sum(known[t] for t in totals if t in known)
                    changed = True
    return recovered


def test_small_cells_show_as_less_than_5() -> None:
    table = suppress([[10, 3, 12], [8, 9, 20], [0, 0, 7]], row_labels=["VEN", "HTI", "BOL"],
                     col_labels=["health", "work", "protection"])
    assert table.cells[0][1] == "<5"
    assert ("cell", 0, 1) in table.primary
    assert table.cells[2][0] == 0  # a true zero identifies nobody and stays visible
    assert table.grand_total == 69


def test_a_lone_hidden_cell_gets_a_secondary_companion() -> None:
    table = suppress([[10, 3, 12], [8, 9, 20], [6, 6, 7]])
    assert table.secondary, "3 alone in its row would be recomputed from the row total"
    assert all(table.cells[r][c] == "x" for kind, r, c in table.secondary if kind == "cell")
    assert recover_by_subtraction(table) == {}


def test_small_totals_are_hidden_too() -> None:
    table = suppress([[2, 1], [10, 20]])
    assert table.row_totals[0] == "<5"


def test_a_table_whose_grand_total_is_small_is_hidden_whole() -> None:
    table = suppress([[1, 1], [0, 1]])
    assert table.grand_total == "<5"
    assert all(isinstance(v, str) for row in table.cells for v in row if v != 0)
    assert recover_by_subtraction(table) == {}


def test_nothing_small_means_nothing_hidden() -> None:
    table = suppress([[10, 0], [7, 30]])
    assert table.hidden == frozenset()
    assert table.cells == ((10, 0), (7, 30))


def test_bad_tables_are_refused_with_a_clear_error() -> None:
    with pytest.raises(ValueError, match="same number of columns"):
        suppress([[1, 2], [3]])
    with pytest.raises(ValueError, match="negative"):
        suppress([[1, -2]])


tables = st.integers(min_value=1, max_value=5).flatmap(
    lambda cols: st.lists(st.lists(st.integers(min_value=0, max_value=30), min_size=cols, max_size=cols),
                          min_size=1, max_size=5))


@settings(max_examples=300, deadline=None)
@given(tables)
def test_no_hidden_cell_can_be_recomputed_from_published_totals(counts: list[list[int]]) -> None:
    table = suppress(counts)
    assert recover_by_subtraction(table) == {}
    for kind, r, c in table.primary:
        value = (counts[r][c] if kind == "cell" else sum(counts[r]) if kind == "row"
                 else sum(x[c] for x in counts) if kind == "col" else sum(map(sum, counts)))
        assert 0 < value < 5
    for r, row in enumerate(counts):
        for c, value in enumerate(row):
            if 0 < value < 5:
                assert ("cell", r, c) in table.hidden
