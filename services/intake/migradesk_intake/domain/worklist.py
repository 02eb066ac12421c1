"""The desk's worklist: which cases to look at, filtered and paged, without scanning the store.

Each case has one `WorklistEntry`. An entry is listed under a few *keys*, one per condition a query can ask
for: its status alone (``"open"``), its status and a service area (``"open|area:health"``), its status and the
staff member it is assigned to (``"open|staff:ana"``), and, when a referral of the case is overdue, its status
and ``overdue`` (``"open|overdue"``); the same for ``closed``. A query reads the entries of ONE key, the most
selective of those its conditions name (the smallest count), day by day, and checks the other conditions on
each entry (`WorklistQuery.matches`).

Entries are stored by *bucket*: the UTC hour of `opened_at` ("YYYY-MM-DDTHH"; in this module's and the
adapter's helper names, a "day" is such a bucket). An hour, not a day: a bucket's document is rewritten whole at
every registration it gets, so its size must be bounded by what one desk registers in an hour, not in a busy
day. Within a key, entries are ordered by their `position` (bucket, opened_at as ISO text, case_id): oldest
first or newest first. A cursor is the position of the last entry of a page (or the end of the last bucket
walked), so paging is stable while entries are added. Text order of buckets is time order, a bucket's first
seven characters are its month, and a bucket is before a date's ISO text exactly when its hour is on an
earlier day.

This module is pure: the adapters (migradesk_intake.adapters.worklist) store the keys and walk the days.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

OPEN, CLOSED = "open", "closed"
STATUSES = (OPEN, CLOSED)
DESK = "desk"  # the service area of a request resolved at the desk
MAX_PAGE_SIZE = 100

# (bucket "YYYY-MM-DDTHH", opened_at as ISO text in UTC with microseconds, case_id): sorts as the entries do.
Position = tuple[str, str, str]
# Sentinels for "the whole day was walked": every ISO text sorts after "" and before "~".
END_OF_DAY_OLDEST_FIRST = "~"
END_OF_DAY_NEWEST_FIRST = ""


@dataclass(frozen=True)
class WorklistEntry:
    case_id: str
    person_id: str
    opened_at: datetime  # tz-aware
    status: str  # "open" | "closed"
    service_areas: frozenset[str]  # ServiceArea values of its requests; "desk" for requests resolved at the desk
    assigned_to: str  # the staff member's username
    overdue: bool = False  # some referral of the case is overdue (set from referral events)

    def __post_init__(self) -> None:
        if not self.case_id:
            raise ValueError("case_id must not be empty")
        if self.opened_at.tzinfo is None or self.opened_at.utcoffset() is None:
            raise ValueError("opened_at must be timezone-aware")
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {self.status!r}")
        if any("|" in part for part in (self.case_id, self.assigned_to, *self.service_areas)):
            raise ValueError("case_id, assigned_to and service_areas must not contain '|'")
        # Normalised to UTC, so equal instants give equal entries (and equal keys).
        object.__setattr__(self, "opened_at", self.opened_at.astimezone(UTC))
        object.__setattr__(self, "service_areas", frozenset(self.service_areas))

    @property
    def bucket(self) -> str:
        return bucket_of(self.opened_at)

    @property
    def opened_iso(self) -> str:
        return iso_of(self.opened_at)

    @property
    def position(self) -> Position:
        return (self.bucket, self.opened_iso, self.case_id)


@dataclass(frozen=True)
class WorklistQuery:
    """What the desk asks for. `opened_before` is EXCLUSIVE: only cases opened on an (UTC) day strictly before
    it are listed ("older than N days": pass today - N days). `after` is the `next_cursor` of the previous page
    of the same query."""

    status: str = OPEN
    service_area: str | None = None
    assigned_to: str | None = None
    overdue_only: bool = False
    opened_before: date | None = None
    oldest_first: bool = True
    after: str | None = None
    page_size: int = 25

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {self.status!r}")
        if isinstance(self.page_size, bool) or not isinstance(self.page_size, int) \
                or not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be an integer from 1 to {MAX_PAGE_SIZE}")
        for name in ("service_area", "assigned_to"):
            value = getattr(self, name)
            if value is not None and (not value or "|" in value):
                raise ValueError(f"{name} must be a non-empty name without '|'")
        if self.after is not None:
            decode_cursor(self.after)  # raises ValueError naming `after`

    def candidate_keys(self) -> list[str]:
        """The keys whose entries satisfy one condition each: the status key first, then one per further
        condition. Any of them holds every matching entry."""
        keys = [self.status]
        if self.service_area is not None:
            keys.append(f"{self.status}|area:{self.service_area}")
        if self.assigned_to is not None:
            keys.append(f"{self.status}|staff:{self.assigned_to}")
        if self.overdue_only:
            keys.append(f"{self.status}|overdue")
        return keys

    def matches(self, entry: WorklistEntry) -> bool:
        """Every condition (the walked key guarantees one of them; the others are checked here)."""
        return (entry.status == self.status
                and (self.service_area is None or self.service_area in entry.service_areas)
                and (self.assigned_to is None or entry.assigned_to == self.assigned_to)
                and (not self.overdue_only or entry.overdue)
                and (self.opened_before is None or entry.bucket < self.opened_before.isoformat()))

    def day_allowed(self, day: str) -> bool:
        return self.opened_before is None or day < self.opened_before.isoformat()

    def is_after_cursor(self, position: Position, cursor: Position | None) -> bool:
        """The position comes after the cursor in this query's order."""
        if cursor is None:
            return True
        return position > cursor if self.oldest_first else position < cursor

    def end_of_day(self, day: str) -> Position:
        """A cursor past every entry of the day, in this query's order."""
        return (day, END_OF_DAY_OLDEST_FIRST if self.oldest_first else END_OF_DAY_NEWEST_FIRST, "")


@dataclass(frozen=True)
class WorklistPage:
    """One page. `total` is how many cases match the query over all pages; `total_is_exact` says whether it
    is exact (see `plan_total`) or an upper bound."""

    entries: list[WorklistEntry]
    total: int
    next_cursor: str | None
    total_is_exact: bool = True


def bucket_of(moment: datetime) -> str:
    """The UTC hour of the moment, "YYYY-MM-DDTHH"."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H")


def iso_of(moment: datetime) -> str:
    """Fixed-width ISO text in UTC, so text order is time order."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def entry_keys(entry: WorklistEntry) -> list[str]:
    """Every key the entry is listed under (see the module docstring), sorted."""
    keys = {entry.status, f"{entry.status}|staff:{entry.assigned_to}"}
    keys.update(f"{entry.status}|area:{area}" for area in entry.service_areas)
    if entry.overdue:
        keys.add(f"{entry.status}|overdue")
    return sorted(keys)


def key_pairs(entry: WorklistEntry) -> set[tuple[str, str]]:
    """(key, day) of each key of the entry: the day counts that hold it."""
    return {(key, entry.bucket) for key in entry_keys(entry)}


def key_day(key: str, day: str) -> str:
    return f"{key}|{day}"


def day_member(entry: WorklistEntry) -> str:
    """How a day document of a key lists the entry: ``"<opened_at iso>|<case_id>"`` (text order is the
    entries' order within the day)."""
    return f"{entry.opened_iso}|{entry.case_id}"


def member_position(day: str, member: str) -> Position:
    iso, case_id = member.split("|", 1)
    return (day, iso, case_id)


def choose_key(query: WorklistQuery, counts: Mapping[str, int]) -> str:
    """The most selective key of the query: the one counting the fewest entries (in the query's days); on a
    tie, the one named last (a narrower condition than the status alone). Keys missing from `counts` count 0."""
    keys = query.candidate_keys()
    return min(reversed(keys), key=lambda k: counts.get(k, 0))


def days_in_order(days: Mapping[str, int], query: WorklistQuery, cursor: Position | None) -> list[str]:
    """The days holding entries of a key (count > 0) that the query may still list after the cursor, in the
    query's order."""
    chosen = [d for d, n in days.items() if n > 0 and query.day_allowed(d)]
    if cursor is not None:
        chosen = [d for d in chosen if (d >= cursor[0] if query.oldest_first else d <= cursor[0])]
    return sorted(chosen, reverse=not query.oldest_first)


def count_in_days(days: Mapping[str, int], query: WorklistQuery) -> int:
    return sum(n for d, n in days.items() if n > 0 and query.day_allowed(d))


def plan_total(query: WorklistQuery, counts: Mapping[str, int]) -> tuple[int, bool]:
    """What `total` is before walking: with one condition besides the status at most (the key walked holds
    exactly the matching entries, and `opened_before` only drops whole days), the count of the chosen key in
    the query's days, exact. With two or more conditions, the smallest such count: an UPPER BOUND (the other
    conditions are checked entry by entry, and counting them would read every entry of the key); the adapter
    makes it exact when the whole result was seen on a first page."""
    chosen = choose_key(query, counts)
    exact = len(query.candidate_keys()) <= 2
    return counts.get(chosen, 0), exact


def select_in_day(entries: Iterable[WorklistEntry], query: WorklistQuery,
                  cursor: Position | None) -> list[WorklistEntry]:
    """The entries of one day that the query lists after the cursor, in the query's order."""
    chosen = [e for e in entries if query.matches(e) and query.is_after_cursor(e.position, cursor)]
    return sorted(chosen, key=lambda e: e.position, reverse=not query.oldest_first)


def encode_cursor(position: Position) -> str:
    raw = "\x1f".join(position).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        day, iso, case_id = raw.split("\x1f")
        datetime.strptime(day, "%Y-%m-%dT%H")
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("after is not a cursor this worklist gave") from exc
    return (day, iso, case_id)
