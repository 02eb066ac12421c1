"""Stored cases for the latency benchmark, registered through intake's own use case.

Everything that depends on intake's internals is in `seed_cases`, so when intake's repository or use cases
change only that function needs adapting. It writes into intake's database in-process, along the path the
HTTP route takes (payload schema -> command -> IntakeService.open_case -> Mongo repository); the running intake
service's outbox relay then publishes the events (its sweep takes over documents written by another process)
and referral and metrics consume them, so every store ends up as if these people had been registered at the
desk. The intake service must already run on that database: its indexes are created at its start-up.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from migradesk_intake.adapters.repository import MongoIntakeRepository
from migradesk_intake.adapters.views import open_case_command
from migradesk_intake.entrypoints.schemas import OpenCaseIn
from migradesk_intake.service import IntakeService
from migradesk_shared.contracts.categories import CATEGORIES

SEED_CONCURRENCY = 16

FIRST_NAMES = ("María", "José", "Ana", "Luis", "Carmen", "Jean", "Marie", "Pierre", "Rosa", "Carlos", "Yelitza",
               "Wilner", "Daniela", "Pedro", "Fabiola", "Jorge", "Nadège", "Luz", "Roberto", "Valentina")
LAST_NAMES = ("Pérez", "González", "Rodríguez", "Joseph", "Jean-Baptiste", "Fernández", "López", "Martínez",
              "Pierre", "Benítez", "Quispe", "Mamani", "Ortiz", "Céspedes", "Louis", "Vargas", "Duarte", "Rojas")
# Nationality and the language the person is attended in.
NATIONALITIES = (("VEN", "es"), ("PRY", "es"), ("BOL", "es"), ("HTI", "ht"), ("CUB", "es"))
SEXES = ("female", "male", "female", "male", "not_informed")
STATUSES = ("solicitante_refugio", "refugiado", "residencia_temporaria", "acolhida_humanitaria",
            "residente_fronteirico", "other")
# Only categories that are referred somewhere, so every stored case becomes exactly one referral.
REFERRED = tuple(sorted(c.code for c in CATEGORIES.values() if c.area is not None))


def synthetic_case(i: int, rng: random.Random) -> dict[str, Any]:
    """The JSON body of POST /api/cases for the i-th synthetic person: varied name, age, nationality,
    category (across the five service areas), and most of them sharing their data with the partners."""
    nationality, language = NATIONALITIES[i % len(NATIONALITIES)]
    documents = [{"type": "passport", "number": f"P{rng.randrange(10**8):08d}"}] if i % 3 == 0 else []
    return {
        "person": {
            "full_name": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)} {rng.choice(LAST_NAMES)}",
            "birth_date": (date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 70))).isoformat(),
            "sex": SEXES[i % len(SEXES)], "nationality": nationality, "preferred_language": language,
            "migratory_status": STATUSES[i % len(STATUSES)], "documents": documents,
            "consent": {"legal_basis": "consent", "share_with_partners": i % 10 != 0, "recorded_by": "bench"},
        },
        "requests": [{"category": REFERRED[(i * 7) % len(REFERRED)]}],
    }


class HistoryClock:
    """The clock of the seeding: the n cases are opened over the current month so far, oldest first, as a desk's
    month is, not all in the last minutes (the worklist keeps a document per day: a day holding 10^5 cases is no
    desk's). Not earlier: the latency benchmark counts the month's figures in metrics."""

    CALLS_PER_CASE = 4  # about how often opening a case reads the clock

    def __init__(self, n: int) -> None:
        now = datetime.now(UTC)
        # From noon of the 1st (UTC): the same month in the municipality's time zone too.
        start = min(now.replace(day=1, hour=12, minute=0, second=0, microsecond=0), now - timedelta(hours=1))
        self._now = start
        self._step = (now - start) / max(n * self.CALLS_PER_CASE, 1)

    def __call__(self) -> datetime:
        self._now += self._step
        return self._now


async def seed_cases(intake_db: AsyncDatabase[dict[str, Any]], n: int, *, municipality: str) -> None:
    """Register n synthetic cases in intake's database with intake's open-case use case."""
    service = IntakeService(MongoIntakeRepository(intake_db), municipality=municipality, clock=HistoryClock(n))
    rng = random.Random(n)
    queue = iter(range(n))

    async def worker() -> None:
        # Several writes in flight keep the store busy while this process builds the next payload.
        for i in queue:
            payload = OpenCaseIn.model_validate(synthetic_case(i, rng))
            await service.open_case(open_case_command(payload, actor="bench"))

    await asyncio.gather(*(worker() for _ in range(min(SEED_CONCURRENCY, max(n, 1)))))
