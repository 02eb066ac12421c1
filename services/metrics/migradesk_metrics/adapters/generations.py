"""Generations of the metrics store: which database the rollups live in and which consumer group feeds them.

A rebuild from the event log writes a new generation (a fresh database, a consumer group of its own) beside the
one in use, catches it up with the topics, then switches the service over by changing one document in the
configured ("home") database. Every metrics process follows that document: it serves the generation it names,
and moves to a new one within seconds of a switch. Without the document, the home database and the configured
consumer group are the generation (a store that was never rebuilt). The old generation's database is left as it
was, so a switch can be undone by pointing back to it; dropping it is the operator's call.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from migradesk_metrics.settings import MetricsSettings
from migradesk_shared.kafka import TRANSIENT_ERRORS

log = structlog.get_logger("migradesk.metrics.generations")

POINTER = "generations"
ACTIVE = "active"


@dataclass(frozen=True)
class Generation:
    database: str
    consumer_group: str

    def applied_to(self, settings: MetricsSettings) -> MetricsSettings:
        """The service's settings, on this generation's database and consumer group."""
        return settings.model_copy(update={"mongodb_database": self.database, "consumer_group": self.consumer_group})


def home_generation(settings: MetricsSettings) -> Generation:
    return Generation(settings.mongodb_database, settings.consumer_group or settings.service_name)


def new_generation(settings: MetricsSettings, now: datetime | None = None) -> Generation:
    """A fresh database and consumer group, named after the home ones and the time (sortable, readable)."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")
    home = home_generation(settings)
    return Generation(f"{home.database}_g{stamp}", f"{home.consumer_group}-g{stamp}")


async def active_generation(home: AsyncDatabase[dict[str, Any]], settings: MetricsSettings) -> Generation:
    doc = await home[POINTER].find_one({"_id": ACTIVE})
    return Generation(doc["database"], doc["consumer_group"]) if doc else home_generation(settings)


class SwitchRefused(RuntimeError):
    """Another switch happened since the rebuild began: its generation stays, this one is not used."""


async def switch_generation(home: AsyncDatabase[dict[str, Any]], settings: MetricsSettings, *,
                            previous: Generation, new: Generation) -> None:
    """Point the service at `new`, if `previous` is still the active generation (compare-and-set: of two
    rebuilds finishing together, one switches and the other is refused)."""
    doc = {"database": new.database, "consumer_group": new.consumer_group, "switched_at": datetime.now(UTC),
           "previous": {"database": previous.database, "consumer_group": previous.consumer_group}}
    pointers = home[POINTER]
    if previous == home_generation(settings) and await pointers.find_one({"_id": ACTIVE}) is None:
        try:
            await pointers.insert_one({"_id": ACTIVE, **doc})
            return
        except DuplicateKeyError:
            raise SwitchRefused("another rebuild switched the metrics store meanwhile") from None
    result = await pointers.update_one({"_id": ACTIVE, "database": previous.database,
                                        "consumer_group": previous.consumer_group}, {"$set": doc})
    if result.matched_count != 1:
        raise SwitchRefused("another rebuild switched the metrics store meanwhile")


async def wait_for_active_generation(home: AsyncDatabase[dict[str, Any]], settings: MetricsSettings,
                                     max_delay: float = 10.0) -> Generation:
    """The active generation, waiting out a store that is not reachable yet: serving the home generation instead
    would count events into, and show figures from, a database the service left."""
    delay = 0.5
    while True:
        try:
            return await active_generation(home, settings)
        except TRANSIENT_ERRORS as exc:
            log.warning("store unreachable, cannot tell which metrics generation is active", error=repr(exc))
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)


class GenerationFollower:
    """Serves the active generation and moves to the next one when the pointer changes. `serve(generation)`
    starts everything that generation needs and returns how to stop it; the new one is started before the old
    one is stopped, so the routes always have a store."""

    def __init__(self, home: AsyncDatabase[dict[str, Any]], settings: MetricsSettings,
                 serve: Callable[[Generation], Awaitable[Callable[[], Awaitable[None]]]],
                 interval_seconds: float) -> None:
        self._home = home
        self._settings = settings
        self._serve = serve
        self._interval = interval_seconds
        self.current: Generation | None = None
        self._stop_current: Callable[[], Awaitable[None]] | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._move_to(await wait_for_active_generation(self._home, self._settings))
        self._task = asyncio.create_task(self._follow(), name="metrics-generation-follower")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._stop_current is not None:
            await self._stop_current()
            self._stop_current = None

    async def check(self) -> bool:
        """Move to the active generation if it changed; True when it did."""
        active = await active_generation(self._home, self._settings)
        if active == self.current:
            return False
        log.info("switching metrics generation", database=active.database, consumer_group=active.consumer_group,
                 previous=self.current.database if self.current else None)
        await self._move_to(active)
        return True

    async def _move_to(self, generation: Generation) -> None:
        stop_new = await self._serve(generation)
        stop_old, self._stop_current, self.current = self._stop_current, stop_new, generation
        if stop_old is not None:
            await stop_old()

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.check()
            except TRANSIENT_ERRORS as exc:
                log.warning("store unreachable, metrics generation not checked", error=repr(exc))
