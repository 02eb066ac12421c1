from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migradesk_metrics.domain.indicators import disaggregation_table
from migradesk_metrics.domain.reports import evidence_tables, shared_totals
from migradesk_metrics.domain.suppression import SuppressedTable, suppress, suppress_linked, witnesses


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


# Linked tables: several tables of the same counts by different dimensions share their column totals and grand
# total. The oracles below are written apart from the module: a dense exact rank test, an interval-propagating
# reader, and a check of each witness table against every published figure.

Linked = tuple[int, str, int, int]
THRESHOLD = 5


def figures(tables: list[list[list[int]]]) -> dict[Linked, int]:
    values: dict[Linked, int] = {}
    for k, counts in enumerate(tables):
        for r, row in enumerate(counts):
            values |= {(k, "cell", r, c): v for c, v in enumerate(row)}
            values[(k, "row", r, -1)] = sum(row)
    values |= {(-1, "col", -1, c): sum(row[c] for row in tables[0]) for c in range(len(tables[0][0]))}
    values[(-1, "grand", -1, -1)] = sum(map(sum, tables[0]))
    return values


def equations(tables: list[list[list[int]]]) -> list[dict[Linked, int]]:
    n_cols = len(tables[0][0])
    system = []
    for k, counts in enumerate(tables):
        for r in range(len(counts)):
            system.append({**{(k, "cell", r, c): 1 for c in range(n_cols)}, (k, "row", r, -1): -1})
        for c in range(n_cols):
            system.append({**{(k, "cell", r, c): 1 for r in range(len(counts))}, (-1, "col", -1, c): -1})
        system.append({**{(k, "row", r, -1): 1 for r in range(len(counts))}, (-1, "grand", -1, -1): -1})
    system.append({**{(-1, "col", -1, c): 1 for c in range(n_cols)}, (-1, "grand", -1, -1): -1})
    return system


def published(tables: list[list[list[int]]], out: list[SuppressedTable]) -> dict[Linked, int | str]:
    shown: dict[Linked, int | str] = {}
    for k, table in enumerate(out):
        for r, row in enumerate(table.cells):
            shown |= {(k, "cell", r, c): v for c, v in enumerate(row)}
        shown |= {(k, "row", r, -1): v for r, v in enumerate(table.row_totals)}
    shown |= {(-1, "col", -1, c): v for c, v in enumerate(out[0].col_totals)}
    shown[(-1, "grand", -1, -1)] = out[0].grand_total
    return shown


def rank(rows: list[list[Fraction]]) -> int:
    matrix, found = [r[:] for r in rows], 0
    for col in range(len(matrix[0]) if matrix else 0):
        pivot = next((i for i in range(found, len(matrix)) if matrix[i][col] != 0), None)
        if pivot is None:
            continue
        matrix[found], matrix[pivot] = matrix[pivot], matrix[found]
        for i in range(len(matrix)):
            if i != found and matrix[i][col] != 0:
                factor = matrix[i][col] / matrix[found][col]
                matrix[i] = [a - factor * b for a, b in zip(matrix[i], matrix[found], strict=True)]
        found += 1
    return found


def recomputable(tables: list[list[list[int]]], hidden: set[Linked]) -> set[Linked]:
    """Hidden figures in the row space of the joint equations (dense, one rank per figure)."""
    unknowns = sorted(hidden)
    system = [[Fraction(eq.get(u, 0)) for u in unknowns] for eq in equations(tables)]
    base = rank(system)
    return {u for i, u in enumerate(unknowns)
            if rank([*system, [Fraction(int(i == j)) for j in range(len(unknowns))]]) == base}


def label_range(shown: int | str) -> tuple[int, int]:
    return (1, THRESHOLD - 1) if shown == f"<{THRESHOLD}" else (0, 10**9)


def reader_bounds(tables: list[list[list[int]]], shown: dict[Linked, int | str]) -> dict[Linked, tuple[int, int]]:
    """What a reader narrows each hidden figure to by propagating bounds through every equation of every table,
    knowing "<5" is 1..4 and "x" is 0 or at least 5."""
    bounds = {item: label_range(v) for item, v in shown.items() if isinstance(v, str)}
    system = equations(tables)
    changed = True
    while changed:
        changed = False
        for eq in system:
            for item, a in eq.items():
                if item not in bounds:
                    continue
                # a * item = -(sum of the others)
                low = high = 0
                for other, b in eq.items():
                    if other == item:
                        continue
                    known = shown[other]
                    lo, hi = bounds[other] if isinstance(known, str) else (known, known)
                    low, high = (low - b * hi, high - b * lo) if b > 0 else (low - b * lo, high - b * hi)
                lo, hi = (low, high) if a > 0 else (-high, -low)
                old_lo, old_hi = bounds[item]
                lo, hi = max(lo, old_lo), min(hi, old_hi)
                if shown[item] == "x":  # never 1..4: that would have been "<5"
                    lo = THRESHOLD if 0 < lo < THRESHOLD else lo
                    hi = 0 if 0 < hi < THRESHOLD else hi
                if (lo, hi) != (old_lo, old_hi):
                    bounds[item] = (lo, hi)
                    changed = True
    return bounds


def witness_ranges(tables: list[list[list[int]]], out: list[SuppressedTable]) -> dict[Linked, tuple[int, int]]:
    """The values each hidden figure takes in the module's witnesses, after checking that every witness is a set
    of tables the reader cannot tell from the true one: same published figures, every equation holding, every
    hidden figure inside what its label allows."""
    values, shown = figures(tables), published(tables, out)
    ranges = {item: (v, v) for item, v in values.items() if isinstance(shown[item], str)}
    for (item, _), changes in witnesses(tables, out, THRESHOLD).items():
        assert all(isinstance(shown[i], str) for i in changes), "a witness changes a published figure"
        candidate = {i: v + changes.get(i, 0) for i, v in values.items()}
        for eq in equations(tables):
            assert sum(a * candidate[i] for i, a in eq.items()) == 0
        for i in changes:
            lo, hi = label_range(shown[i])
            assert lo <= candidate[i] <= hi and not (shown[i] == "x" and 0 < candidate[i] < THRESHOLD)
        lo, hi = ranges[item]
        ranges[item] = (min(lo, candidate[item]), max(hi, candidate[item]))
    return ranges


def check_linked(tables: list[list[list[int]]]) -> list[SuppressedTable]:
    out = suppress_linked(tables, threshold=THRESHOLD)
    values, shown = figures(tables), published(tables, out)
    hidden = {item for item, v in shown.items() if isinstance(v, str)}
    # The shared totals read the same in every table.
    assert len({(t.col_totals, t.grand_total) for t in out}) == 1
    # Every small count is "<5"; nothing else is.
    for item, v in values.items():
        assert (shown[item] == "<5") == (0 < v < THRESHOLD)
        if not isinstance(shown[item], str):
            assert shown[item] == v
    # A zero counts nobody: it stays published, unless every count is hidden already.
    assert all(v > 0 for item, v in values.items() if item in hidden) or all(
        item in hidden for item, v in values.items() if v > 0)
    # Rule 1: no hidden figure follows from the joint system.
    assert recomputable(tables, hidden) == set()
    # Rule 2: the witnesses (checked above) cover each "<5" figure's whole band, and an "x" figure takes 2 values
    # at least; the propagating reader never contradicts a witness.
    ranges, bounds = witness_ranges(tables, out), reader_bounds(tables, shown)
    for item in hidden:
        lo, hi = ranges[item]
        assert bounds[item][0] <= lo <= hi <= bounds[item][1]
        if shown[item] == "x" and values[item] > 0:
            assert hi > lo
    # What the labels alone leave (every count hidden): a "<5" figure keeps all of it, an "x" figure as many
    # values as a "<5" band holds (threshold-1) or all it has if fewer.
    for item, (lo, hi) in witness_ranges(tables, hide_everything(tables)).items():
        if shown[item] == "<5":
            assert ranges[item][0] <= lo and hi <= ranges[item][1]
        elif shown[item] == "x" and values[item] > 0:
            assert ranges[item][1] - ranges[item][0] >= min(THRESHOLD - 2, hi - lo)
    return out


def hide_everything(tables: list[list[list[int]]]) -> list[SuppressedTable]:
    """The same tables with every count hidden, zeros aside: what the labels alone tell."""
    def mark(v: int) -> int | str:
        return 0 if v == 0 else f"<{THRESHOLD}" if v < THRESHOLD else "x"

    def local(rows: list[list[int]]) -> frozenset[tuple[str, int, int]]:
        items = {("cell", r, c): v for r, row in enumerate(rows) for c, v in enumerate(row)}
        items |= {("row", r, -1): sum(row) for r, row in enumerate(rows)}
        items |= {("col", -1, c): sum(row[c] for row in rows) for c in range(len(rows[0]))}
        items[("grand", -1, -1)] = sum(map(sum, rows))
        return frozenset(i for i, v in items.items() if v)

    return [SuppressedTable(
        row_labels=(), col_labels=(), cells=tuple(tuple(mark(v) for v in row) for row in rows),
        row_totals=tuple(mark(sum(row)) for row in rows),
        col_totals=tuple(mark(sum(row[c] for row in rows)) for c in range(len(rows[0]))),
        grand_total=mark(sum(map(sum, rows))), primary=frozenset(), secondary=local(rows)) for rows in tables]


def test_sibling_tables_suppressed_alone_give_a_small_cell_away_and_together_do_not() -> None:
    by_sex = [[8, 4, 8], [8, 0, 8]]
    by_age = [[6, 0, 15], [10, 4, 1]]  # the same requests, the same column totals
    alone = [suppress(by_sex), suppress(by_age)]
    shown = published([by_sex, by_age], alone)
    known_anywhere = {item for item, v in shown.items() if item[0] == -1 and any(
        not isinstance(t.col_totals[item[3]] if item[1] == "col" else t.grand_total, str) for t in alone)}
    hidden = {item for item, v in shown.items() if isinstance(v, str)} - known_anywhere
    assert (0, "cell", 0, 1) in recomputable([by_sex, by_age], hidden)  # the 4 follows from the other table
    out = check_linked([by_sex, by_age])
    assert out[0].col_totals == out[1].col_totals and out[0].grand_total == out[1].grand_total


def test_a_published_less_than_5_cannot_bound_its_neighbour() -> None:
    # The reader's trick on a row [<5, x, 10] with total 17: x is 0 or at least 5, so x is 5 or 6 and the "<5"
    # is 1 or 2. Whatever is published instead, the "<5" can still be any of 1..4.
    tables = [[[3, 4, 10], [20, 30, 40], [20, 30, 40]]]
    out = check_linked(tables)
    assert out[0].cells[0][0] == "<5"
    ranges = witness_ranges(tables, out)
    assert ranges[(0, "cell", 0, 0)] == (1, 4) and ranges[(0, "cell", 0, 1)] == (1, 4)
    assert all(hi - lo >= THRESHOLD - 2 for item, (lo, hi) in ranges.items() if item != (0, "cell", 0, 0))


def test_a_table_of_one_count_hides_a_small_count_everywhere() -> None:
    assert suppress([[3]]).cells == (("<5",),) and suppress([[3]]).grand_total == "<5"
    assert suppress([[7]]).hidden == frozenset()
    check_linked([[[3]], [[1], [2]]])


def test_zeros_stay_published_and_are_never_small() -> None:
    out = check_linked([[[0, 12, 30], [0, 3, 9]], [[0, 10, 20], [0, 5, 19]]])
    assert all(t.col_totals[0] == 0 for t in out) and out[0].cells[0][0] == 0


def test_linked_tables_must_share_their_column_totals() -> None:
    with pytest.raises(ValueError, match="same column totals"):
        suppress_linked([[[1, 2]], [[2, 2]]])


@st.composite
def linked_tables(draw: st.DrawFn) -> list[list[list[int]]]:
    """One to three tables over the same columns whose columns sum alike: the same counts by other dimensions."""
    n_cols = draw(st.integers(min_value=1, max_value=4))
    counts = st.one_of(st.integers(min_value=0, max_value=4), st.integers(min_value=5, max_value=40))
    first = draw(st.lists(st.lists(counts, min_size=n_cols, max_size=n_cols), min_size=1, max_size=4))
    tables = [first]
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        n_rows = draw(st.integers(min_value=1, max_value=4))
        table = [[0] * n_cols for _ in range(n_rows)]
        for c in range(n_cols):
            left = sum(row[c] for row in first)
            for r in range(n_rows - 1):
                share = draw(st.integers(min_value=0, max_value=left))
                table[r][c], left = share, left - share
            table[n_rows - 1][c] = left
        tables.append(table)
    return tables


@settings(max_examples=200, deadline=None)
@given(linked_tables())
def test_linked_tables_give_no_hidden_figure_away(tables: list[list[list[int]]]) -> None:
    check_linked(tables)


def test_the_evidence_tables_are_suppressed_as_one_system() -> None:
    people = [("VEN", "female", "health", 9), ("VEN", "male", "health", 7), ("HTI", "male", "work", 3),
              ("BOL", "female", "work", 6), ("CUB", "female", "protection", 2), ("VEN", "female", "work", 8)]
    areas: dict[str, dict[str, int]] = {}
    for nationality, sex, area, n in people:
        bucket = areas.setdefault(area, {})
        for key in ("requests_logged", f"requests_logged|nationality={nationality}", f"requests_logged|sex={sex}"):
            bucket[key] = bucket.get(key, 0) + n
    tables = evidence_tables(areas, THRESHOLD)
    assert list(tables) == ["requests_by_nationality", "requests_by_sex"]
    by_nationality, by_sex = tables.values()
    assert by_nationality.col_totals == by_sex.col_totals and by_nationality.grand_total == by_sex.grand_total
    raw = [disaggregation_table(areas, "requests_logged", d)[2] for d in ("nationality", "sex")]
    assert [t.cells for t in check_linked(raw)] == [by_nationality.cells, by_sex.cells]
    assert by_nationality.cells[by_nationality.row_labels.index("HTI")][3] == "<5"
    assert shared_totals(tables) == {**dict(zip(by_sex.col_labels, by_sex.col_totals, strict=True)),
                                     "_all": by_sex.grand_total}
    assert shared_totals(tables)["protection"] == "<5" and shared_totals({}) == {}


def test_a_system_of_tables_is_solved_once_and_each_caller_gets_its_own_list() -> None:
    from migradesk_metrics.domain.suppression import _suppress_linked_once

    counts = [[[31, 2, 17], [4, 40, 9]], [[20, 30, 6], [15, 12, 20]]]
    labels = [["VEN", "HTI"], ["F", "M"]]
    first = suppress_linked(counts, row_labels=labels, col_labels=["a", "b", "c"])
    hits = _suppress_linked_once.cache_info().hits
    again = suppress_linked([[list(row) for row in t] for t in counts], row_labels=labels,
                            col_labels=("a", "b", "c"))
    assert again == first and again is not first
    assert _suppress_linked_once.cache_info().hits == hits + 1
    again.append(again[0])  # a caller's list is its own: the cached answer stays whole
    assert suppress_linked(counts, row_labels=labels, col_labels=["a", "b", "c"]) == first
    # Other figures, labels or threshold are another system.
    assert suppress_linked(counts, row_labels=labels, col_labels=["a", "b", "c"], threshold=3) != first
    assert suppress_linked(counts, row_labels=[["BOL", "HTI"], ["F", "M"]], col_labels=["a", "b", "c"]) != first
