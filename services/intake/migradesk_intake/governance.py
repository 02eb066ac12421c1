"""The governance register's use cases: record, correct and withdraw activities and instruments, attach their
documents, and list a year's register. Desk staff, coordinators and administrators keep it (it holds no
personal data); each change is stored with the event metrics counts it by."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from migradesk_intake.adapters.governance import GovernanceRepository
from migradesk_intake.domain.governance import (
    Attachment,
    Facts,
    GovernanceRecord,
    create_record,
    new_attachment,
    revise_record,
    withdraw_record,
    year_of,
)
from migradesk_shared.contracts.activities import ActivityFacts, InstrumentFacts


@dataclass(frozen=True)
class Register:
    """A year of the register: its activities (newest first) and the instruments in force in it."""

    year: int
    activities: list[GovernanceRecord]
    instruments: list[GovernanceRecord]


class GovernanceRegister:
    def __init__(self, repository: GovernanceRepository, *, municipality: str,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.repository = repository
        self.municipality = municipality
        self._clock = clock

    async def record(self, facts: Facts, *, actor: str) -> GovernanceRecord:
        change = create_record(facts, actor=actor, municipality=self.municipality, now=self._clock())
        await self.repository.add(change)
        return change.record

    async def revise(self, record_id: str, facts: Facts, *, expected_revision: int, actor: str) -> GovernanceRecord:
        held = await self.repository.get(record_id)
        change = revise_record(held, facts, expected_revision=expected_revision, actor=actor,
                               municipality=self.municipality, now=self._clock())
        await self.repository.save(change, held_revision=held.revision)
        return change.record

    async def withdraw(self, record_id: str, *, expected_revision: int, actor: str) -> GovernanceRecord:
        held = await self.repository.get(record_id)
        change = withdraw_record(held, expected_revision=expected_revision, actor=actor,
                                 municipality=self.municipality, now=self._clock())
        await self.repository.save(change, held_revision=held.revision)
        return change.record

    async def read(self, record_id: str) -> GovernanceRecord:
        return await self.repository.get(record_id)

    async def register(self, year: int) -> Register:
        """The year's activities, and the instruments in force at some time of it (adopted by its end, not ended
        before it began), withdrawn records left out."""
        activities = [r for r in await self.repository.of_year(year) if r.record == "activity" and not r.withdrawn]
        instruments = [r for r in await self.repository.in_force() if _in_force_during(r, year)]
        activities.sort(key=lambda r: (_dated(r), r.created_at), reverse=True)
        instruments.sort(key=lambda r: (r.facts.kind, _dated(r)))
        return Register(year, activities, instruments)

    async def attach(self, record_id: str, *, name: str, media_type: str, content: bytes,
                     actor: str) -> Attachment:
        record = await self.repository.get(record_id)
        attachment = new_attachment(record, name=name, media_type=media_type, content=content, actor=actor,
                                    now=self._clock())
        await self.repository.add_attachment(record_id, attachment, content)
        return attachment

    async def detach(self, record_id: str, attachment_id: str) -> None:
        await self.repository.remove_attachment(record_id, attachment_id)

    async def document(self, record_id: str, attachment_id: str) -> tuple[Attachment, bytes]:
        attachment = (await self.repository.get(record_id)).attachment(attachment_id)
        return attachment, await self.repository.attachment_content(attachment)


def _dated(record: GovernanceRecord) -> date:
    facts = record.facts
    return facts.held_on if isinstance(facts, ActivityFacts) else facts.adopted_on


def _in_force_during(record: GovernanceRecord, year: int) -> bool:
    """Adopted by the end of the year, and not ended before it began."""
    facts = record.facts
    assert isinstance(facts, InstrumentFacts)
    return year_of(facts) <= year and (facts.ends_on is None or facts.ends_on.year >= year)
