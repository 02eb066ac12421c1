"""Metrics' Kafka subscribers: case events, activities and referral events, counted into the rollups."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo

from migradesk_metrics.adapters.repository import RollupRepository
from migradesk_metrics.channels import SUBSCRIBES
from migradesk_metrics.service import count_event, count_events, prepare_count
from migradesk_shared.kafka import Delivery
from migradesk_shared.runtime import Runtime


def subscribe(runtime: Runtime, repository: RollupRepository, tz: ZoneInfo) -> None:
    async def on_event(event: Any, delivery: Delivery) -> None:
        await count_event(event, delivery, repository=repository, tz=tz)

    async def on_batch(items: list[tuple[Any, Delivery]]) -> None:
        await count_events(items, repository=repository, tz=tz)

    async def prepare_batch(items: list[tuple[Any, Delivery]]) -> Callable[[], Awaitable[None]]:
        write = await prepare_count(items, repository=repository, tz=tz)

        async def apply() -> None:
            await write()

        return apply

    for spec in SUBSCRIBES:
        runtime.subscribe(spec, on_event, batch_handler=on_batch, batch_preparer=prepare_batch)
