"""The governance register's repository: its interface, and its implementations on the store and in memory.

One document per record, `_id` = the record id, with its facts, its revision (the write guard), its documents'
descriptions and the outbox of its events:
    {_id, record, kind, year, facts: {...}, revision, withdrawn, created_*, updated_*, attachments: [...], outbox...}
A document's bytes live apart, in chunks of `CHUNK_BYTES` whose `_id` is `<attachment id>:<n>`, so reading one
is a look-up by `_id`, and a record's page never loads the files it lists. Chunks are written before the record
names them and deleted after it stops naming them: a crash in between leaves unreferenced chunks, never a
listed document without its bytes. The register of a year is found by `year`, the leading field of an index.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any, Protocol

from bson import Binary
from pydantic import TypeAdapter
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from migradesk_intake.adapters.mappers import StoredEvent, stored_event
from migradesk_intake.adapters.repository import GOVERNANCE, OnWrite, no_relay
from migradesk_intake.domain.governance import Attachment, Facts, GovernanceRecord, RecordChange, year_of
from migradesk_shared.contracts.activities import RecordFacts
from migradesk_shared.errors import Conflict, DomainRuleViolation, NotFound
from migradesk_shared.outbox import append_outbox, new_document_outbox
from migradesk_shared.topics import ACTIVITIES

GOVERNANCE_FILES = "governance_files"
# Well below the store's 16 MiB document limit, and small enough that a chunk is cheap to write and to read.
CHUNK_BYTES = 255 * 1024
FACTS: TypeAdapter[Facts] = TypeAdapter(RecordFacts)


class GovernanceRepository(Protocol):
    async def ensure_indexes(self) -> None: ...

    async def add(self, change: RecordChange) -> None:
        """Store a new record with its event; Conflict if its id is taken."""
        ...

    async def save(self, change: RecordChange, *, held_revision: int) -> None:
        """Store a changed record (and its event) on condition that the stored one is still at `held_revision`;
        Conflict when someone changed it meanwhile."""
        ...

    async def get(self, record_id: str) -> GovernanceRecord:
        """The record; NotFound if there is none."""
        ...

    async def of_year(self, year: int) -> list[GovernanceRecord]:
        """The records of a year (activities held in it, instruments adopted in it), withdrawn ones included."""
        ...

    async def in_force(self) -> list[GovernanceRecord]:
        """Every instrument not withdrawn, whatever its year: the register's standing part."""
        ...

    async def add_attachment(self, record_id: str, attachment: Attachment, content: bytes) -> None:
        """Store a document's bytes, then name it in its record (unless the record was withdrawn meanwhile:
        DomainRuleViolation, nothing kept)."""
        ...

    async def remove_attachment(self, record_id: str, attachment_id: str) -> None: ...

    async def attachment_content(self, attachment: Attachment) -> bytes: ...

    async def record_events(self, record_id: str) -> list[StoredEvent]: ...


def _document(record: GovernanceRecord) -> dict[str, Any]:
    return {"_id": record.record_id, "record": record.record, "kind": record.facts.kind,
            "year": year_of(record.facts), "facts": record.facts.model_dump(mode="json"),
            "revision": record.revision, "withdrawn": record.withdrawn,
            "created_at": record.created_at, "created_by": record.created_by,
            "updated_at": record.updated_at, "updated_by": record.updated_by,
            "attachments": [_attachment_document(a) for a in record.attachments]}


def _attachment_document(attachment: Attachment) -> dict[str, Any]:
    return {"attachment_id": attachment.attachment_id, "name": attachment.name, "media_type": attachment.media_type,
            "size": attachment.size, "sha256": attachment.sha256, "uploaded_at": attachment.uploaded_at,
            "uploaded_by": attachment.uploaded_by}


def _record(doc: dict[str, Any]) -> GovernanceRecord:
    return GovernanceRecord(
        record_id=doc["_id"], facts=FACTS.validate_python(doc["facts"]), revision=doc["revision"],
        created_at=doc["created_at"], created_by=doc["created_by"], updated_at=doc["updated_at"],
        updated_by=doc["updated_by"], withdrawn=doc.get("withdrawn", False),
        attachments=tuple(Attachment(**a) for a in doc.get("attachments", [])))


def _outbox(change: RecordChange) -> list[tuple[Any, Any]]:
    return [(ACTIVITIES, change.event)] if change.event is not None else []


def chunk_ids(attachment: Attachment) -> list[str]:
    return [f"{attachment.attachment_id}:{n}" for n in range(max(1, -(-attachment.size // CHUNK_BYTES)))]


class MongoGovernanceRepository:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], on_write: OnWrite = no_relay) -> None:
        self.records = db[GOVERNANCE]
        self.files = db[GOVERNANCE_FILES]
        self._on_write = on_write

    async def ensure_indexes(self) -> None:
        # The register's pages read a year at a time, and the standing instruments by record kind.
        await self.records.create_index([("year", 1)])
        await self.records.create_index([("record", 1)])

    async def add(self, change: RecordChange) -> None:
        try:
            await self.records.insert_one({**_document(change.record), **new_document_outbox(_outbox(change))})
        except DuplicateKeyError as exc:
            raise Conflict(f"record {change.record.record_id} already exists", field="record_id") from exc
        self._on_write(GOVERNANCE, change.record.record_id)

    async def save(self, change: RecordChange, *, held_revision: int) -> None:
        fields = {k: v for k, v in _document(change.record).items() if k not in ("_id", "attachments")}
        update: dict[str, Any] = {"$set": fields}
        if change.event is not None:
            appended = append_outbox(_outbox(change))
            update = {**appended, "$set": {**fields, **appended["$set"]}}
        result = await self.records.update_one({"_id": change.record.record_id, "revision": held_revision}, update)
        if not result.matched_count:
            raise Conflict("someone changed this record meanwhile: read it again", field="revision")
        if change.event is not None:
            self._on_write(GOVERNANCE, change.record.record_id)

    async def get(self, record_id: str) -> GovernanceRecord:
        doc = await self.records.find_one({"_id": record_id}, {"outbox": 0})
        if doc is None:
            raise NotFound(f"record {record_id} not found", field="record_id")
        return _record(doc)

    async def of_year(self, year: int) -> list[GovernanceRecord]:
        return [_record(doc) async for doc in self.records.find({"year": year}, {"outbox": 0})]

    async def in_force(self) -> list[GovernanceRecord]:
        return [_record(doc) async for doc in self.records.find({"record": "instrument"}, {"outbox": 0})
                if not doc.get("withdrawn")]

    async def add_attachment(self, record_id: str, attachment: Attachment, content: bytes) -> None:
        ids = chunk_ids(attachment)
        await self.files.insert_many([{"_id": chunk_id, "data": Binary(content[n * CHUNK_BYTES:(n + 1) * CHUNK_BYTES])}
                                      for n, chunk_id in enumerate(ids)])
        result = await self.records.update_one({"_id": record_id, "withdrawn": False},
                                               {"$push": {"attachments": _attachment_document(attachment)}})
        if not result.matched_count:
            await self.files.delete_many({"_id": {"$in": ids}})
            raise DomainRuleViolation("this record was withdrawn", field="record_id")

    async def remove_attachment(self, record_id: str, attachment_id: str) -> None:
        doc = await self.records.find_one({"_id": record_id}, {"attachments": 1})
        stored = next((a for a in (doc or {}).get("attachments", []) if a["attachment_id"] == attachment_id), None)
        if doc is None or stored is None:
            raise NotFound(f"attachment {attachment_id} not found", field="attachment_id")
        # The description exactly as stored, so only that entry goes, whatever else was added meanwhile.
        await self.records.update_one({"_id": record_id}, {"$pull": {"attachments": stored}})
        await self.files.delete_many({"_id": {"$in": chunk_ids(Attachment(**stored))}})

    async def attachment_content(self, attachment: Attachment) -> bytes:
        ids = chunk_ids(attachment)
        chunks = {doc["_id"]: bytes(doc["data"]) async for doc in self.files.find({"_id": {"$in": ids}})}
        if len(chunks) != len(ids):
            raise NotFound(f"the content of attachment {attachment.attachment_id} is missing", field="attachment_id")
        return b"".join(chunks[chunk_id] for chunk_id in ids)

    async def record_events(self, record_id: str) -> list[StoredEvent]:
        doc = await self.records.find_one({"_id": record_id}, {"outbox": 1})
        return [stored_event(e) for e in doc.get("outbox", [])] if doc else []


class InMemoryGovernanceRepository:
    """The same rules in memory: unique ids, writes conditional on the revision, the event with the state."""

    def __init__(self, on_write: OnWrite = no_relay) -> None:
        self._records: dict[str, GovernanceRecord] = {}
        self._outboxes: dict[str, list[dict[str, Any]]] = {}
        self._files: dict[str, bytes] = {}
        self._on_write = on_write

    async def ensure_indexes(self) -> None:
        return None

    async def add(self, change: RecordChange) -> None:
        record = change.record
        if record.record_id in self._records:
            raise Conflict(f"record {record.record_id} already exists", field="record_id")
        self._records[record.record_id] = record
        self._outboxes[record.record_id] = copy.deepcopy(new_document_outbox(_outbox(change))["outbox"])
        self._on_write(GOVERNANCE, record.record_id)

    async def save(self, change: RecordChange, *, held_revision: int) -> None:
        held = self._records.get(change.record.record_id)
        if held is None or held.revision != held_revision:
            raise Conflict("someone changed this record meanwhile: read it again", field="revision")
        self._records[held.record_id] = replace(change.record, attachments=held.attachments)
        if change.event is not None:
            self._outboxes[held.record_id] += new_document_outbox(_outbox(change))["outbox"]
            self._on_write(GOVERNANCE, held.record_id)

    async def get(self, record_id: str) -> GovernanceRecord:
        if record_id not in self._records:
            raise NotFound(f"record {record_id} not found", field="record_id")
        return self._records[record_id]

    async def of_year(self, year: int) -> list[GovernanceRecord]:
        return [r for r in self._records.values() if year_of(r.facts) == year]

    async def in_force(self) -> list[GovernanceRecord]:
        return [r for r in self._records.values() if r.record == "instrument" and not r.withdrawn]

    async def add_attachment(self, record_id: str, attachment: Attachment, content: bytes) -> None:
        record = await self.get(record_id)
        if record.withdrawn:
            raise DomainRuleViolation("this record was withdrawn", field="record_id")
        self._files[attachment.attachment_id] = content
        self._records[record_id] = replace(record, attachments=(*record.attachments, attachment))

    async def remove_attachment(self, record_id: str, attachment_id: str) -> None:
        record = await self.get(record_id)
        record.attachment(attachment_id)
        self._records[record_id] = replace(
            record, attachments=tuple(a for a in record.attachments if a.attachment_id != attachment_id))
        self._files.pop(attachment_id, None)

    async def attachment_content(self, attachment: Attachment) -> bytes:
        if attachment.attachment_id not in self._files:
            raise NotFound(f"the content of attachment {attachment.attachment_id} is missing", field="attachment_id")
        return self._files[attachment.attachment_id]

    async def record_events(self, record_id: str) -> list[StoredEvent]:
        return [stored_event(e) for e in self._outboxes.get(record_id, [])]
