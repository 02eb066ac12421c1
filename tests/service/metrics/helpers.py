"""Events, read positions and repository wrappers shared by the metrics service tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from migradesk_metrics.adapters.repository import RollupRepository
from migradesk_metrics.domain.reports import BucketCounts
from migradesk_metrics.domain.rollups import BucketKey, BucketWrite, Position, RollupEvent
from migradesk_metrics.service import count_events
from migradesk_shared.contracts.case_events import CaseOpened, PersonFacets, RequestLogged
from migradesk_shared.contracts.vocabulary import ServiceArea
from migradesk_shared.kafka import Delivery

TZ = ZoneInfo("America/Sao_Paulo")
TOWN = "Dourados-MS"
NOV = datetime(2026, 11, 5, 12, tzinfo=UTC)
VEN = PersonFacets(nationality="VEN", sex="female", age_band="30-59", migratory_status="refugiado", language="es")


def at(offset: int, partition: int = 0, topic: str = "t.case-events") -> Delivery:
    return Delivery(topic, partition, offset)


def opened(case_id: str, when: datetime = NOV, municipality: str = TOWN) -> CaseOpened:
    return CaseOpened(producer="test", occurred_at=when, case_id=case_id, municipality=municipality,
                      facets=PersonFacets())


def logged(area: ServiceArea | None, request_id: str = "r1", when: datetime = NOV, facets: PersonFacets = VEN,
           case_id: str = "c1") -> RequestLogged:
    return RequestLogged(producer="test", occurred_at=when, case_id=case_id, request_id=request_id,
                         category="sus_card" if area else "documentation", service_area=area, municipality=TOWN,
                         facets=facets)


def bucket(area: str = "_all", period: str = "2026-11") -> BucketKey:
    return BucketKey(TOWN, period, area)


async def counts_of(repository: RollupRepository, area: str = "_all", period: str = "2026-11") -> Mapping[str, int]:
    found = {(b.period, b.area): b.counts for b in await repository.buckets(TOWN, period)}
    return found.get((period, area), {})


class Recording:
    """A repository that notes each read and conditional write (with the areas of the buckets it touches), to
    count round trips per batch."""

    def __init__(self, inner: RollupRepository) -> None:
        self.inner = inner
        self.calls: list[tuple[str, tuple[str, ...]]] = []

    async def ensure_indexes(self) -> None:
        await self.inner.ensure_indexes()

    async def offsets_held(self, key: BucketKey) -> dict[str, int] | None:
        self.calls.append(("read", (key.area,)))
        return await self.inner.offsets_held(key)

    async def offsets_held_many(self, keys: Sequence[BucketKey]) -> dict[str, dict[str, int]]:
        self.calls.append(("read", tuple(sorted(key.area for key in keys))))
        return await self.inner.offsets_held_many(keys)

    async def add_counts(self, key: BucketKey, held: Mapping[str, int] | None, write: BucketWrite) -> bool:
        self.calls.append(("write", (key.area,)))
        return await self.inner.add_counts(key, held, write)

    async def add_counts_many(self, writes: Sequence[tuple[BucketKey, Mapping[str, int] | None, BucketWrite]]
                              ) -> set[str]:
        self.calls.append(("write", tuple(sorted(key.area for key, _, _ in writes))))
        return await self.inner.add_counts_many(writes)

    async def replace_all(self, buckets: Iterable[tuple[BucketKey, Mapping[str, int], Mapping[str, int]]]) -> int:
        return await self.inner.replace_all(buckets)

    async def buckets(self, municipality: str, period: str | None) -> list[BucketCounts]:
        return await self.inner.buckets(municipality, period)


class Overtaken(Recording):
    """Another process (say, the replica a rebalance handed the partition to) counts `competing` between this
    writer's first read and its first conditional write."""

    def __init__(self, inner: RollupRepository, competing: Sequence[tuple[RollupEvent, Position]]) -> None:
        super().__init__(inner)
        self.competing = competing

    async def add_counts_many(self, writes: Sequence[tuple[BucketKey, Mapping[str, int] | None, BucketWrite]]
                              ) -> set[str]:
        if self.competing:
            competing, self.competing = self.competing, ()
            await count_events(competing, repository=self.inner, tz=TZ)
        return await super().add_counts_many(writes)
