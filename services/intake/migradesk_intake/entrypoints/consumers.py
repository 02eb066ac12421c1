"""Intake's Kafka subscriber: referral's events, kept as each referral's live status (a read model)."""

from __future__ import annotations

from typing import Any

from migradesk_intake.service import IntakeService
from migradesk_shared.kafka import Delivery
from migradesk_shared.runtime import Runtime
from migradesk_shared.topics import REFERRAL_EVENTS


def subscribe(runtime: Runtime, service: IntakeService) -> None:
    async def on_referral_event(event: Any, delivery: Delivery) -> None:
        await service.record_referral_events([event])

    async def on_referral_events(items: list[tuple[Any, Delivery]]) -> None:
        # A batch is one read and one write; if it fails, the consumer retries it message by message.
        await service.record_referral_events([event for event, _ in items])

    runtime.subscribe(REFERRAL_EVENTS, on_referral_event, batch_handler=on_referral_events)
