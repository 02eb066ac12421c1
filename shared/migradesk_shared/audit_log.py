"""An access log whose records cannot be edited or removed unnoticed: each record carries the hash of the one
before it, so changing or deleting one breaks every hash after it.

Records are chained per writing process: each process starts a chain of its own (an id, `seq` 1, 2, 3...), so
processes never wait for each other, and appends are grouped (the records that concurrent requests append while
a batch is written go together in one ordered insert), then the chain's head (its last `seq` and hash) is
stored in the heads collection. `verify` walks every chain by `_id` and names what does not hold: a record
whose content no longer gives its hash, a missing record, a head that no record matches (records removed from
the end). Deleting a whole chain together with its head is not detectable from inside the store: the heads are
also logged (`audit chain head`) so a copy kept elsewhere can anchor them.

The hash is an HMAC under a key the service derives from its secrets, so rewriting a record and every hash
after it needs more than write access to the store.

A record is `_id` = `<chain>:<seq, 12 digits>`, `chain`, `seq`, `prev` (the hash before it), `hash`, and its
fields (ids and codes only). Times are kept to the millisecond, which is what the store keeps, so a record
read back hashes as it was written.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from pymongo.asynchronous.collection import AsyncCollection

log = structlog.get_logger("migradesk.audit")

GENESIS = "0" * 64
CHAIN_FIELDS = ("_id", "chain", "seq", "prev", "hash")
VERIFY_BATCH = 500


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat(timespec="milliseconds")
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def to_milliseconds(value: Any) -> Any:
    """A record's fields as the store will give them back: times cut to the millisecond."""
    if isinstance(value, datetime):
        return value.replace(microsecond=value.microsecond // 1000 * 1000)
    if isinstance(value, Mapping):
        return {k: to_milliseconds(v) for k, v in value.items()}
    return value


def record_hash(prev: str, chain: str, seq: int, fields: Mapping[str, Any], key: bytes) -> str:
    """HMAC-SHA256 under the service's audit key (kept in its secrets, not in the store): whoever can write the
    store cannot recompute a chain over an edited record."""
    body = json.dumps({"chain": chain, "seq": seq, "fields": _canonical(fields)}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False)
    return hmac.new(key, f"{prev}\n{body}".encode(), hashlib.sha256).hexdigest()


def record_id(chain: str, seq: int) -> str:
    return f"{chain}:{seq:012d}"


def chain_records(chain: str, seq: int, prev: str, fields: Sequence[Mapping[str, Any]], key: bytes
                  ) -> list[dict[str, Any]]:
    """The records that follow (`seq`, `prev`) on `chain`, one per fields."""
    records = []
    for entry in fields:
        clean = {k: v for k, v in to_milliseconds(entry).items() if k not in CHAIN_FIELDS}
        seq += 1
        digest = record_hash(prev, chain, seq, clean, key)
        records.append({"_id": record_id(chain, seq), "chain": chain, "seq": seq, "prev": prev, "hash": digest,
                        **clean})
        prev = digest
    return records


@dataclass
class ChainReport:
    chain: str
    records: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass
class Verification:
    """What `verify` found: per chain, its records and what does not hold; `intact` when nothing."""

    chains: list[ChainReport]

    @property
    def intact(self) -> bool:
        return not any(c.problems for c in self.chains)

    @property
    def records(self) -> int:
        return sum(c.records for c in self.chains)

    @property
    def problems(self) -> list[str]:
        return [f"{c.chain}: {p}" for c in self.chains for p in c.problems]


def verify_chain(chain: str, records: Sequence[Mapping[str, Any]], head: Mapping[str, Any] | None, key: bytes
                 ) -> ChainReport:
    """Check one chain's records (in `seq` order) against each other and against its head."""
    report = ChainReport(chain, records=len(records))
    prev, expected = GENESIS, 1
    for record in records:
        seq = record["seq"]
        if seq != expected:
            report.problems.append(f"records {expected} to {seq - 1} are missing")
        elif record["prev"] != prev:
            report.problems.append(f"record {seq} does not follow the record before it")
        fields = {k: v for k, v in record.items() if k not in CHAIN_FIELDS}
        if not hmac.compare_digest(record_hash(record["prev"], chain, seq, fields, key), record["hash"]):
            report.problems.append(f"record {seq} was changed after it was written")
        prev, expected = record["hash"], seq + 1
    if head is not None:
        if head["seq"] >= expected:
            report.problems.append(f"records {expected} to {head['seq']} are missing (the head says "
                                   f"{head['seq']} were written)")
        else:
            at_head = next((r for r in records if r["seq"] == head["seq"]), None)
            if at_head is not None and at_head["hash"] != head.get("hash"):
                report.problems.append(f"record {head['seq']} is not the one the head names")
    return report


class ChainedLog:
    """The access log of one service on the store: `append` chains records, `verify` checks every chain."""

    def __init__(self, records: AsyncCollection[dict[str, Any]], heads: AsyncCollection[dict[str, Any]], *,
                 key: bytes, chain: str | None = None, max_batch: int = 500) -> None:
        self.records = records
        self._key = key
        self.heads = heads
        self.chain = chain or f"{datetime.now(UTC):%Y%m%d%H%M%S}-{uuid.uuid4().hex[:12]}"
        self._seq, self._prev = 0, GENESIS
        self._max_batch = max_batch
        self._waiting: list[tuple[list[dict[str, Any]], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def ensure_indexes(self) -> None:
        await self.heads.create_index([("started_at", 1)])

    async def append(self, fields: Sequence[Mapping[str, Any]]) -> None:
        """Return once these records are stored, chained after every record this process appended before."""
        if not fields:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(([dict(f) for f in fields], future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_waiting())
        await future

    async def _write_waiting(self) -> None:
        while self._waiting:
            batch: list[tuple[list[dict[str, Any]], asyncio.Future[None]]] = []
            count = 0
            while self._waiting and (not batch or count + len(self._waiting[0][0]) <= self._max_batch):
                item = self._waiting.pop(0)
                batch.append(item)
                count += len(item[0])
            records = chain_records(self.chain, self._seq, self._prev, [f for fields, _ in batch for f in fields],
                                    self._key)
            try:
                await self.records.insert_many(records, ordered=True)
                last = records[-1]
                await self.heads.update_one({"_id": self.chain}, {
                    "$set": {"seq": last["seq"], "hash": last["hash"], "updated_at": datetime.now(UTC)},
                    "$setOnInsert": {"started_at": datetime.now(UTC)}}, upsert=True)
            except Exception as exc:
                # What was stored of the batch is not known: this chain ends here (its head still names what it
                # holds for sure) and the next records start a new one, so no record is chained to a guess.
                log.warning("audit records not stored; starting a new chain", chain=self.chain, error=repr(exc))
                self.chain = f"{datetime.now(UTC):%Y%m%d%H%M%S}-{uuid.uuid4().hex[:12]}"
                self._seq, self._prev = 0, GENESIS
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self._seq, self._prev = last["seq"], last["hash"]
            log.info("audit chain head", chain=self.chain, seq=self._seq, hash=self._prev)
            for _, future in batch:
                if not future.done():
                    future.set_result(None)

    async def verify(self) -> Verification:
        """Walk every chain from its first record by `_id`, a batch of ids at a time, up to its head and past it
        while records follow (a batch whose head was not stored yet)."""
        reports = []
        async for head in self.heads.find({}).sort("started_at", 1):
            chain, records, seq = head["_id"], [], 1
            while True:
                ids = [record_id(chain, n) for n in range(seq, seq + VERIFY_BATCH)]
                found = {doc["_id"]: doc async for doc in self.records.find({"_id": {"$in": ids}})}
                records += [found[i] for i in ids if i in found]
                seq += VERIFY_BATCH
                if seq > head["seq"] and len(found) < VERIFY_BATCH:
                    break
            reports.append(verify_chain(chain, records, head, self._key))
        return Verification(reports)
