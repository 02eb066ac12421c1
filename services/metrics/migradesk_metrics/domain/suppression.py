"""Small-cell suppression for published tables, alone or linked (DESIGN.md §4).

A count from 1 to threshold-1 identifies too few people to publish: it shows as "<5" (primary suppression).
Totals are published too, so more figures are hidden ("x", secondary suppression) until the published figures
give the hidden ones away neither exactly nor approximately.

Linked tables. The evidence tables count the same requests by different dimensions, so they share their column
totals (requests per service area) and their grand total, and a reader combines all of them: a figure hidden in one
table can be recomputed from the totals of another. Linked tables are therefore suppressed as one system: a shared
total is hidden in all of them or in none, and both rules below hold for the equations of all tables together.

Rule 1, nothing recomputed exactly. No hidden figure is determined by the joint linear system (each row and column
of each table sums to its total, the totals to the grand total): its unit vector is not in the row space of the
equations over the hidden figures (`determined_jointly`, exact rational elimination on sparse rows: each equation
names a few hidden figures only, so the reduced rows stay short).

Rule 2, nothing narrowed (protection intervals, as statistical offices audit suppressed tables). The reader is
assumed to know every published figure, that "<5" means 1 to 4 and that "x" means 0 or at least 5. The labels alone
already tell that much, so the rule asks that the published numbers tell nothing more about a small count:
- a "<5" figure can still take every value its labels leave it: 1..threshold-1, unless labels bind one another
  (two "<5" parts of a "<5" total cannot both be 4);
- an "x" figure can still take threshold-1 values (the "<5" band's worth; at least 2), or all the labels leave it if
  fewer (a secondary tied to a lone "<5" has no more values than that "<5").
A band of threshold values is out of reach while "<5" itself tells 1..threshold-1: it would need zeros hidden
behind the same mark. "What the labels leave" is measured the same way on the tables with every count hidden (zeros
stay published: a zero counts nobody). For every hidden figure the audit finds explicit witnesses, complete sets of
tables consistent with everything published and every label, in which the figure takes the lowest and the highest
of those values; and every value in between follows, since witnesses are moves along integral circulations (below).
As witnesses are whole consistent tables, no method (linear programming, integer search) narrows a figure beyond
them. Not covered: a reader who reruns this very algorithm on candidate tables to see which would be suppressed the
same way.

How witnesses are found. A table is a bipartite graph (a node per row, per column and one for the totals column):
a hidden cell is an edge column -> row, a hidden row total an edge row -> totals node; the shared margin is one more
node that every table's hidden column totals and hidden grand total connect to. Changing nothing published while
every equation holds is exactly a circulation on the hidden edges, with each edge inside the range its label allows
("<5": 1..4, "x": 5 or more; a hidden zero cannot move without contradicting its label). Circulations are integral,
so a witness is found by augmenting paths one unit at a time (at most threshold-2 units per figure); a change of a
shared total is carried by every table at once. Secondary figures are chosen along the cheapest path that gives a
figure its room (cost: the figure's value, so the least information is lost), never a true zero, and a shared total
only when the tables alone cannot protect a figure.

Cost: a handful of breadth-first searches per hidden figure on graphs of a few dozen nodes, and one exact
elimination at the end; eight linked tables of up to 30 rows by 6 columns take well under two seconds.
"""

from __future__ import annotations

import functools
import heapq
import itertools
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

DEFAULT_THRESHOLD = 5

# Hidden items: ("cell", r, c), ("row", r, -1) for a row total, ("col", -1, c) for a column total and
# ("grand", -1, -1) for the grand total.
Item = tuple[str, int, int]
GRAND: Item = ("grand", -1, -1)

# A figure of a set of linked tables: (table, kind, row, column). The shared totals, column totals and the grand
# total, belong to no table alone: their table is -1.
LinkedItem = tuple[int, str, int, int]
SHARED = -1
SHARED_GRAND: LinkedItem = (SHARED, "grand", -1, -1)

_UNBOUNDED = 10**12
_MARGIN = -1  # the node of the shared margin, in every table's graph
Graph = dict[int, dict[int, int]]


def shared_column(c: int) -> LinkedItem:
    return (SHARED, "col", -1, c)


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


def _equations(shapes: Sequence[tuple[int, int]]) -> list[dict[LinkedItem, int]]:
    """Every row and column of every table sums to its total; each table's row totals and the shared column totals
    sum to the shared grand total."""
    n_cols = shapes[0][1] if shapes else 0
    system: list[dict[LinkedItem, int]] = []
    for k, (n_rows, _) in enumerate(shapes):
        for r in range(n_rows):
            system.append({**{(k, "cell", r, c): 1 for c in range(n_cols)}, (k, "row", r, -1): -1})
        for c in range(n_cols):
            system.append({**{(k, "cell", r, c): 1 for r in range(n_rows)}, shared_column(c): -1})
        system.append({**{(k, "row", r, -1): 1 for r in range(n_rows)}, SHARED_GRAND: -1})
    system.append({**{shared_column(c): 1 for c in range(n_cols)}, SHARED_GRAND: -1})
    return system


def determined_jointly(shapes: Sequence[tuple[int, int]], hidden: frozenset[LinkedItem]) -> frozenset[LinkedItem]:
    """Hidden figures of linked tables (`shapes`: (rows, columns) of each, all with the same columns) whose value
    follows from everything published in all of them. Reduced row echelon form of the equations restricted to the
    hidden figures: a figure is determined exactly when its reduced row names it alone."""
    if not hidden:
        return frozenset()
    basis: dict[LinkedItem, dict[LinkedItem, Fraction]] = {}  # pivot -> its reduced row
    for equation in _equations(shapes):
        row = {item: Fraction(v) for item, v in equation.items() if item in hidden}
        for pivot in [item for item in row if item in basis]:
            factor = row.pop(pivot)
            for item, v in basis[pivot].items():
                if item != pivot:
                    value = row.get(item, Fraction(0)) - factor * v
                    if value:
                        row[item] = value
                    else:
                        row.pop(item, None)
        if not row:
            continue
        pivot = min(row)
        scale = row[pivot]
        row = {item: v / scale for item, v in row.items()}
        for other in basis.values():
            if pivot in other:
                factor = other[pivot]
                for item, v in row.items():
                    value = other.get(item, Fraction(0)) - factor * v
                    if value:
                        other[item] = value
                    else:
                        other.pop(item, None)
        basis[pivot] = row
    return frozenset(pivot for pivot, row in basis.items() if len(row) == 1)


def _linked(item: Item) -> LinkedItem:
    kind, r, c = item
    return (SHARED, kind, r, c) if kind in ("col", "grand") else (0, kind, r, c)


def determined(n_rows: int, n_cols: int, hidden: frozenset[Item]) -> frozenset[Item]:
    """Hidden items of one table whose value follows from everything published: the visible cells, the visible
    row and column totals and the grand total (each row and column sums to its total; totals sum to the grand
    total)."""
    found = determined_jointly([(n_rows, n_cols)], frozenset(_linked(i) for i in hidden))
    return frozenset(i for i in hidden if _linked(i) in found)


def _path(graph: Graph, source: int, target: int) -> list[int] | None:
    """A shortest path with room from source to target (breadth first), as its nodes."""
    if source == target:
        return [source]
    previous = {source: source}
    queue = deque([source])
    while queue:
        node = queue.popleft()
        for nxt, room in graph.get(node, {}).items():
            if room > 0 and nxt not in previous:
                previous[nxt] = node
                if nxt == target:
                    path = [nxt]
                    while path[-1] != source:
                        path.append(previous[path[-1]])
                    return path[::-1]
                queue.append(nxt)
    return None


def _reachable(graph: Graph, source: int) -> set[int]:
    """Every node a path with room leads to from source (itself included)."""
    seen = {source}
    queue = deque([source])
    while queue:
        node = queue.popleft()
        for nxt, room in graph.get(node, {}).items():
            if room > 0 and nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def _push(graph: Graph, path: list[int]) -> None:
    for a, b in itertools.pairwise(path):
        graph[a][b] -= 1
        graph.setdefault(b, {})[a] = graph.get(b, {}).get(a, 0) + 1


class _Linked:
    """One run of suppression over linked tables: their figures, what is hidden, and the audit."""

    def __init__(self, tables: Sequence[Sequence[Sequence[int]]], threshold: int) -> None:
        self.threshold = threshold
        self.shapes = [(len(t), len(t[0])) for t in tables]
        self.n_cols = self.shapes[0][1]
        values: dict[LinkedItem, int] = {}
        for k, counts in enumerate(tables):
            for r, row in enumerate(counts):
                values |= {(k, "cell", r, c): v for c, v in enumerate(row)}
                values[(k, "row", r, -1)] = sum(row)
        first = tables[0]
        values |= {shared_column(c): sum(row[c] for row in first) for c in range(self.n_cols)}
        values[SHARED_GRAND] = sum(map(sum, first))
        self.values = values
        self.primary = frozenset(item for item, v in values.items() if 0 < v < threshold)
        self.hidden: set[LinkedItem] = set(self.primary)
        self.protected: set[LinkedItem] = set()
        self.spreads: dict[LinkedItem, int] = {}
        self._built: dict[int, tuple[int, list[Graph], dict[tuple[LinkedItem, int], int]]] = {}
        self.by_table: list[list[LinkedItem]] = [[] for _ in self.shapes]
        for item, value in values.items():
            if item[0] != SHARED and value > 0:
                self.by_table[item[0]].append(item)
        self.everything = {item for item, v in values.items() if v > 0}
        self._edge_nodes: dict[tuple[LinkedItem, int], tuple[int, int]] = {}
        self.band = self._label_bands()

    def _label_bands(self) -> dict[LinkedItem, tuple[int, int]]:
        """What the labels alone leave of each "<5" figure: its range were every count hidden (zeros aside). Mostly
        1..threshold-1; less where labels bind one another (two "<5" parts of a "<5" total cannot both be 4)."""
        band = {}
        for item in self.primary:
            value = self.values[item]
            up, down = self._reach_unpublished(item, self.threshold - 1 - value, value - 1)
            band[item] = (value - down, value + up)
        return band

    def _reach_unpublished(self, item: LinkedItem, up: int, down: int) -> tuple[int, int]:
        """How far (up to `up`, `down`) the item moves were every count hidden, zeros aside."""
        hidden, self.hidden = self.hidden, self.everything
        found = self.witness(item, 1, up)[0], self.witness(item, -1, down)[0]
        self.hidden = hidden
        return found

    def spread(self, item: LinkedItem) -> int:
        """How many units an "x" figure must be able to move in all: threshold-2, so that it keeps threshold-1
        values as a "<5" figure does (at least one unit, never determined); less only where the labels alone
        leave it less."""
        if item not in self.spreads:
            need = max(self.threshold - 2, 1)
            up, down = self._reach_unpublished(item, need, need)
            self.spreads[item] = min(need, up + down)
        return self.spreads[item]

    # The graph of table k: rows are nodes 0..n-1, columns n..n+m-1, the totals column n+m; the margin is _MARGIN.
    def _nodes(self, item: LinkedItem, k: int) -> tuple[int, int]:
        """(tail, head) of the edge carrying `item` in table k: raising the figure pushes one unit tail -> head."""
        found = self._edge_nodes.get((item, k))
        if found is None:
            found = self._edge_nodes[(item, k)] = self._nodes_of(item, k)
        return found

    def _nodes_of(self, item: LinkedItem, k: int) -> tuple[int, int]:
        n_rows = self.shapes[k][0]
        _, kind, r, c = item
        if kind == "cell":
            return n_rows + c, r
        if kind == "row":
            return r, n_rows + self.n_cols
        if kind == "col":
            return _MARGIN, n_rows + c
        return n_rows + self.n_cols, _MARGIN

    def _range(self, item: LinkedItem) -> tuple[int, int]:
        """What the reader knows of a hidden figure from its label alone."""
        value = self.values[item]
        if item in self.primary:
            return 1, self.threshold - 1
        return (0, 0) if value == 0 else (self.threshold, _UNBOUNDED)

    def _room(self, item: LinkedItem, direction: int) -> int:
        low, high = self._range(item)
        return high - self.values[item] if direction > 0 else self.values[item] - low

    def _graphs(self) -> tuple[list[Graph], dict[tuple[LinkedItem, int], int]]:
        """Every table's graph of hidden figures, and the room of each hidden shared total, built once for each
        state of the hidden set (it only grows, so its size tells its states apart)."""
        built = self._built.get(id(self.hidden))
        if built is None or built[0] != len(self.hidden):
            graphs: list[Graph] = [{} for _ in self.shapes]
            for item in self.hidden:
                if item[0] == SHARED:
                    continue
                tail, head = self._nodes(item, item[0])
                graph = graphs[item[0]]
                graph.setdefault(tail, {})[head] = self._room(item, 1)
                graph.setdefault(head, {})[tail] = self._room(item, -1)
            margin = {(item, d): self._room(item, d) for item in self.hidden if item[0] == SHARED for d in (1, -1)}
            built = self._built[id(self.hidden)] = (len(self.hidden), graphs, margin)
        return built[1], built[2]

    def _entering(self, move: tuple[LinkedItem, int]) -> bool:
        """Whether a move of a shared total brings a unit into the tables (a column total up, the grand total down)
        or takes one out of them."""
        tail, _ = self._nodes(move[0], 0)
        return (tail == _MARGIN) == (move[1] > 0)

    def witness(self, item: LinkedItem, direction: int, need: int) -> tuple[int, dict[LinkedItem, int]]:
        """How far (up to `need`) `item` can move in `direction` with everything published unchanged and every
        hidden figure inside its label's range; and the change of every hidden figure in that witness."""
        base, base_margin = self._graphs()
        graphs = list(base)  # a table's graph is copied before it changes
        margin = {key: room for key, room in base_margin.items() if key[0] != item}
        own = min(need, self._room(item, direction))
        moved = 0
        k = item[0]
        if k != SHARED:
            tail, head = self._nodes(item, k)
            graphs[k] = {node: dict(edges) for node, edges in base[k].items()}
            graphs[k][tail][head] = graphs[k][head][tail] = 0  # the item moves by itself, not along a path
        while moved < own:
            if k != SHARED:
                a, b = (tail, head) if direction > 0 else (head, tail)
                path = _path(graphs[k], b, a)
                if path is not None:
                    _push(graphs[k], path)
                    moved += 1
                    continue
            if not self._through_margin(item, direction, graphs, base, margin):
                break
            moved += 1
        changes: dict[LinkedItem, int] = {item: direction * moved} if moved else {}
        for (hidden, d), room in margin.items():
            if d > 0 and base_margin[(hidden, 1)] != room:
                changes[hidden] = base_margin[(hidden, 1)] - room
        for j, graph in enumerate(graphs):
            if graph is base[j]:
                continue
            for hidden in self.by_table[j]:
                if hidden in self.hidden and hidden != item:
                    tail_j, head_j = self._nodes(hidden, j)
                    if delta := base[j][tail_j][head_j] - graph[tail_j][head_j]:
                        changes[hidden] = delta
        return moved, changes

    def _through_margin(self, item: LinkedItem, direction: int, graphs: list[Graph], base: list[Graph],
                        margin: dict[tuple[LinkedItem, int], int]) -> bool:
        """One unit of `item` carried through the shared margin: one shared total takes the unit into every table
        and another takes it out, and every table routes it between the two (table `item[0]` through `item`)."""
        moves = [move for move, room in margin.items() if room > 0]
        if item[0] == SHARED:
            own = (item, direction)
            own_enters = self._entering(own)
            pairs = [(own, m) if own_enters else (m, own) for m in moves if self._entering(m) != own_enters]
        else:
            entering = [m for m in moves if self._entering(m)]
            leaving = [m for m in moves if not self._entering(m)]
            pairs = [(a, b) for a in entering for b in leaving if a[0] != b[0]]
        k = item[0]
        # Most pairs fail in some table; what a node reaches is searched once per table and node, not per pair
        # (the graphs do not change until a pair succeeds, and then this returns).
        reached: dict[tuple[int, int], set[int]] = {}

        def reaches(j: int, source: int, target: int) -> bool:
            if (j, source) not in reached:
                reached[(j, source)] = _reachable(graphs[j], source)
            return target in reached[(j, source)]

        others = [j for j in range(len(graphs)) if j != k]
        for into, out in pairs:
            if not all(reaches(j, self._node(into[0], j), self._node(out[0], j)) for j in others):
                continue
            if k != SHARED:
                trial = {node: dict(edges) for node, edges in graphs[k].items()}
                if not self._route(k, trial, item, direction, into[0], out[0]):
                    continue
            paths = {}
            for j in others:
                path = _path(graphs[j], self._node(into[0], j), self._node(out[0], j))
                assert path is not None  # reachable, and the graph is unchanged since
                paths[j] = path
            if k != SHARED:
                graphs[k] = trial
            for j, path in paths.items():
                if graphs[j] is base[j]:  # the shared, unchanged graph: copied before it changes
                    graphs[j] = {node: dict(edges) for node, edges in base[j].items()}
                _push(graphs[j], path)
            for moved, d in (into, out):
                if moved != item:
                    margin[(moved, d)] -= 1
                    margin[(moved, -d)] += 1
            return True
        return False

    def _node(self, item: LinkedItem, k: int) -> int:
        """The node of table k where a shared total's unit enters or leaves."""
        tail, head = self._nodes(item, k)
        return head if tail == _MARGIN else tail

    def _route(self, k: int, graph: Graph, item: LinkedItem, direction: int, into: LinkedItem, out: LinkedItem
               ) -> bool:
        """Route one unit in table k from where it enters (`into`) to where it leaves (`out`); in the table of
        `item`, through `item`."""
        source, target = self._node(into, k), self._node(out, k)
        if item[0] == k:
            tail, head = self._nodes(item, k)
            a, b = (tail, head) if direction > 0 else (head, tail)
            legs = [(source, a), (b, target)]
        else:
            legs = [(source, target)]
        for start, end in legs:
            path = _path(graph, start, end)
            if path is None:
                return False
            _push(graph, path)
        return True

    def shortfall(self, item: LinkedItem) -> tuple[int, int]:
        """(direction, units) the item must be able to move but cannot (0 units when it is protected): a "<5"
        figure over its whole band, an "x" figure over its spread. A hidden zero is exempt: it cannot move
        without contradicting its label, and a published zero would have told nobody anything either."""
        value = self.values[item]
        if item in self.primary:
            low, high = self.band[item]
            for direction, need in ((1, high - value), (-1, value - low)):
                if need > 0 and self.witness(item, direction, need)[0] < need:
                    return direction, need
            return 1, 0
        if value == 0:
            return 1, 0
        need = self.spread(item)
        down = self.witness(item, -1, need)[0]
        up = self.witness(item, 1, need - down)[0] if down < need else 0
        return 1, (need - down if up + down < need else 0)

    def audit(self) -> tuple[LinkedItem, int, int] | None:
        """The first hidden figure that is not protected: (figure, direction, units)."""
        for item in sorted(self.hidden, key=lambda i: (i not in self.primary, i)):
            if item in self.protected:
                continue
            direction, missing = self.shortfall(item)
            if missing > 0:
                return item, direction, missing
            # Hiding more only adds ways to move: a witness found stays valid.
            self.protected.add(item)
        return None

    # Choosing secondary suppressions.
    def _candidate_room(self, item: LinkedItem, direction: int, moved: Mapping[LinkedItem, int]) -> int:
        """Room left to a figure, hidden or not yet, once it has `moved` (a witness's changes)."""
        value = self.values[item]
        if item in self.hidden:
            return self._room(item, direction) - direction * moved.get(item, 0)
        return _UNBOUNDED - value if direction > 0 else value - self.threshold

    def _edges(self, k: int, need: int, without: LinkedItem, moved: Mapping[LinkedItem, int]
               ) -> dict[int, list[tuple[int, int, LinkedItem]]]:
        """Table k as a graph for `_cheapest`: each figure that can move `need` units, hidden figures at no cost,
        a figure still published at the cost of its value."""
        edges: dict[int, list[tuple[int, int, LinkedItem]]] = {}
        for item in self.by_table[k]:
            if item == without:
                continue
            tail, head = self._nodes(item, k)
            cost = 0 if item in self.hidden else self.values[item]
            if self._candidate_room(item, 1, moved) >= need:
                edges.setdefault(tail, []).append((head, cost, item))
            if self._candidate_room(item, -1, moved) >= need:
                edges.setdefault(head, []).append((tail, cost, item))
        return edges

    @staticmethod
    def _cheapest(edges: dict[int, list[tuple[int, int, LinkedItem]]], source: int, target: int
                  ) -> tuple[int, list[LinkedItem]] | None:
        """The cheapest path from source to target (Dijkstra), as its cost and figures."""
        best = {source: 0}
        previous: dict[int, tuple[int, LinkedItem]] = {}
        queue = [(0, source)]
        while queue:
            cost, node = heapq.heappop(queue)
            if node == target:
                items, at = [], target
                while at != source:
                    at, item = previous[at]
                    items.append(item)
                return cost, items
            if cost > best.get(node, cost):
                continue
            for nxt, step, item in edges.get(node, []):
                if cost + step < best.get(nxt, _UNBOUNDED * 4):
                    best[nxt] = cost + step
                    previous[nxt] = (node, item)
                    heapq.heappush(queue, (cost + step, nxt))
        return None

    def protect(self, item: LinkedItem, direction: int, need: int) -> bool:
        """Hide what gives `item` room to move `need` units in `direction`; False if nothing was found.

        First one path with room for all of it (a whole cycle of secondaries at once, the usual pattern); failing
        that, one more unit on top of the witness found so far (successive augmenting paths: each adds a unit, so
        the figure gets all its band that hiding everything would give it)."""
        _, moved = self.witness(item, direction, need)
        for units, changes in ((need, {}), (1, moved)):
            if self._protect_within(item, direction, units, changes) or \
                    self._protect_through_margin(item, direction, units, changes):
                return True
        return False

    def _protect_within(self, item: LinkedItem, direction: int, need: int, moved: Mapping[LinkedItem, int]
                        ) -> bool:
        k = item[0]
        if k == SHARED:
            return False
        tail, head = self._nodes(item, k)
        a, b = (tail, head) if direction > 0 else (head, tail)
        found = self._cheapest(self._edges(k, need, item, moved), b, a)
        if found is None or all(i in self.hidden for i in found[1]):
            return False
        self.hidden.update(found[1])
        return True

    def _protect_through_margin(self, item: LinkedItem, direction: int, need: int,
                                moved: Mapping[LinkedItem, int]) -> bool:
        shared = [i for i in self.values if i[0] == SHARED and i != item and self.values[i] > 0]
        moves = [(i, d) for i in shared for d in (1, -1) if self._candidate_room(i, d, moved) >= need]
        k = item[0]
        if k == SHARED:
            tail, head = self._nodes(item, 0)
            entering = (tail == _MARGIN) == (direction > 0)
            own = (item, direction)
            pairs = [(own, m) if entering else (m, own) for m in moves if self._entering(m) != entering]
        else:
            pairs = [(a, b) for a, b in itertools.permutations(moves, 2)
                     if a[0] != b[0] and self._entering(a) and not self._entering(b)]
        best: tuple[int, set[LinkedItem]] | None = None
        edges = [self._edges(j, need, item, moved) for j in range(len(self.shapes))]

        def opening(pair: tuple[tuple[LinkedItem, int], tuple[LinkedItem, int]]) -> int:
            return sum(self.values[m[0]] for m in pair if m[0] not in self.hidden)

        # Cheapest first: a pair that costs more to open than the best plan in all cannot beat it.
        for into, out in sorted(pairs, key=opening):
            cost = opening((into, out))
            if best is not None and cost >= best[0]:
                break
            chosen = {into[0], out[0]}
            for j in range(len(self.shapes)):
                legs = [(self._node(into[0], j), self._node(out[0], j))]
                if j == k:
                    tail, head = self._nodes(item, k)
                    a, b = (tail, head) if direction > 0 else (head, tail)
                    legs = [(legs[0][0], a), (b, legs[0][1])]
                for start, end in legs:
                    found = self._cheapest(edges[j], start, end)
                    if found is None:
                        break
                    cost += found[0]
                    chosen.update(found[1])
                else:
                    continue
                break
            else:
                if best is None or cost < best[0]:
                    best = (cost, chosen)
        if best is None or best[1] <= self.hidden:
            return False
        self.hidden.update(best[1])
        return True

    def hide_something(self, item: LinkedItem) -> bool:
        """Failing a path: the smallest published count next to `item`, else in its table, else anywhere (shared
        totals last); a zero only when no count is left."""
        k, _, r, c = item
        counts = [i for i in self.values if self.values[i] > 0]
        near = [i for i in counts if i[0] == k and (i[2] == r or i[3] == c)] if k != SHARED else []
        for pool in (near, [i for i in counts if i[0] != SHARED], counts, list(self.values)):
            options = [i for i in pool if i not in self.hidden]
            if options:
                self.hidden.add(min(options, key=lambda i: (self.values[i], i)))
                return True
        return False

    def run(self) -> None:
        while True:
            weak = self.audit()
            if weak is None:
                # Protected figures are never determined; this settles what the audit exempts (hidden zeros, and
                # a threshold of 2, whose "<2" band is a single value).
                exposed = determined_jointly(self.shapes, frozenset(self.hidden))
                if not exposed or not self.hide_something(min(exposed)):
                    return
                continue
            item, direction, need = weak
            if not self.protect(item, direction, need) and not self.hide_something(item):
                return  # everything is hidden already


def _validated(tables: Sequence[Sequence[Sequence[int]]]) -> None:
    if not tables:
        raise ValueError("at least one table is needed")
    for counts in tables:
        if not counts or not counts[0]:
            raise ValueError("a table needs at least one row and one column")
        if any(len(row) != len(counts[0]) for row in counts):
            raise ValueError("every row of the table must have the same number of columns")
        if any(v < 0 for row in counts for v in row):
            raise ValueError("counts cannot be negative")
    margins = {tuple(sum(row[c] for row in counts) for c in range(len(counts[0]))) for counts in tables}
    if len(margins) != 1:
        raise ValueError("linked tables must have the same columns and the same column totals")


def suppress_linked(tables: Sequence[Sequence[Sequence[int]]], *,
                    row_labels: Sequence[Sequence[str] | None] | None = None, col_labels: Sequence[str] | None = None,
                    threshold: int = DEFAULT_THRESHOLD) -> list[SuppressedTable]:
    """Suppress tables that share their column totals (and so their grand total) as one system: both rules of the
    module hold for everything the tables publish together. Tables in the order given."""
    _validated(tables)
    # The result depends on the figures and labels alone, and a page shows the same past months again and again
    # (a dashboard shows a year of trends; only the current month's figures move): each system is solved once.
    return list(_suppress_linked_once(
        tuple(tuple(tuple(row) for row in counts) for counts in tables),
        None if row_labels is None else tuple(None if labels is None else tuple(labels) for labels in row_labels),
        None if col_labels is None else tuple(col_labels), threshold))


@functools.lru_cache(maxsize=16384)
def _suppress_linked_once(tables: tuple[tuple[tuple[int, ...], ...], ...],
                          row_labels: tuple[tuple[str, ...] | None, ...] | None, col_labels: tuple[str, ...] | None,
                          threshold: int) -> tuple[SuppressedTable, ...]:
    return tuple(_suppress_linked(tables, row_labels=row_labels, col_labels=col_labels, threshold=threshold))


def _suppress_linked(tables: Sequence[Sequence[Sequence[int]]], *,
                     row_labels: Sequence[Sequence[str] | None] | None, col_labels: Sequence[str] | None,
                     threshold: int) -> list[SuppressedTable]:
    run = _Linked(tables, threshold)
    run.run()
    hidden = frozenset(run.hidden)

    def shown(item: LinkedItem) -> int | str:
        return (f"<{threshold}" if item in run.primary else "x" if item in hidden else run.values[item])

    def local(item: LinkedItem) -> Item:
        return item[1], item[2], item[3]

    n_cols = run.n_cols
    out = []
    for k, counts in enumerate(tables):
        n_rows = len(counts)
        mine = [i for i in hidden if i[0] in (k, SHARED)]
        labels = row_labels[k] if row_labels else None
        out.append(SuppressedTable(
            row_labels=tuple(labels or (str(i) for i in range(n_rows))),
            col_labels=tuple(col_labels or (str(i) for i in range(n_cols))),
            cells=tuple(tuple(shown((k, "cell", r, c)) for c in range(n_cols)) for r in range(n_rows)),
            row_totals=tuple(shown((k, "row", r, -1)) for r in range(n_rows)),
            col_totals=tuple(shown(shared_column(c)) for c in range(n_cols)),
            grand_total=shown(SHARED_GRAND),
            primary=frozenset(local(i) for i in mine if i in run.primary),
            secondary=frozenset(local(i) for i in mine if i not in run.primary)))
    return out


def suppress(counts: Sequence[Sequence[int]], *, row_labels: Sequence[str] | None = None,
             col_labels: Sequence[str] | None = None, threshold: int = DEFAULT_THRESHOLD) -> SuppressedTable:
    """One table on its own; a table that shares its totals with others goes through `suppress_linked`."""
    if not counts or not counts[0]:
        raise ValueError("a table needs at least one row and one column")
    return suppress_linked([counts], row_labels=[row_labels], col_labels=col_labels, threshold=threshold)[0]


def witnesses(tables: Sequence[Sequence[Sequence[int]]], published: Sequence[SuppressedTable], threshold: int
              ) -> dict[tuple[LinkedItem, int], dict[LinkedItem, int]]:
    """For each hidden figure and direction (+1, -1): the change of every hidden figure in the witness that moves
    it furthest that way (as far as its rule asks), for auditing a publication from outside."""
    run = _Linked(tables, threshold)
    run.hidden = {(k if kind in ("cell", "row") else SHARED, kind, r, c)
                  for k, table in enumerate(published) for kind, r, c in table.hidden}
    found = {}
    for item in run.hidden:
        for direction in (1, -1):
            if item in run.primary:
                low, high = run.band[item]
                need = high - run.values[item] if direction > 0 else run.values[item] - low
            else:
                need = run.spread(item) if run.values[item] else 0
            found[(item, direction)] = run.witness(item, direction, max(need, 0))[1]
    return found
