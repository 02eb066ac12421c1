"""Group commit: writes submitted while a batch is being written go together in the next batch; each caller
returns once its own write is stored; a failed batch is written again item by item, so one bad item fails its
own caller only."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from migradesk_intake.adapters.group_commit import GroupCommit


class Store:
    def __init__(self, refuse: frozenset[int] = frozenset()) -> None:
        self.batches: list[list[int]] = []
        self.alone: list[int] = []
        self.stored: list[int] = []
        self.refuse = refuse
        self.gate = asyncio.Event()
        self.gate.set()

    async def write_batch(self, items: Sequence[int]) -> None:
        self.batches.append(list(items))
        await self.gate.wait()
        if self.refuse & set(items):
            raise ValueError("refused")
        self.stored += items

    async def write_one(self, item: int) -> None:
        self.alone.append(item)
        if item in self.refuse:
            raise ValueError(f"item {item} refused")
        self.stored.append(item)


async def test_a_write_to_an_idle_writer_starts_at_once_and_the_ones_meanwhile_go_together() -> None:
    store = Store()
    commit = GroupCommit(store.write_batch, store.write_one)
    await commit.submit(1)
    assert store.batches == [[1]] and store.stored == [1]
    store.gate.clear()  # the next batch is being written while more arrive
    first = asyncio.create_task(commit.submit(2))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    rest = [asyncio.create_task(commit.submit(i)) for i in range(3, 8)]
    await asyncio.sleep(0)
    assert not first.done() and not any(t.done() for t in rest)  # nobody returns before its write is stored
    store.gate.set()
    await asyncio.gather(first, *rest)
    assert store.batches == [[1], [2], [3, 4, 5, 6, 7]] and store.stored == [1, 2, 3, 4, 5, 6, 7]


async def test_batches_are_bounded() -> None:
    store = Store()
    store.gate.clear()
    commit = GroupCommit(store.write_batch, store.write_one, max_batch=3)
    tasks = [asyncio.create_task(commit.submit(i)) for i in range(8)]
    await asyncio.sleep(0)
    store.gate.set()
    await asyncio.gather(*tasks)
    assert [len(b) for b in store.batches] == [3, 3, 2] and sorted(store.stored) == list(range(8))


async def test_a_refused_item_fails_its_caller_only() -> None:
    store = Store(refuse=frozenset({4}))
    store.gate.clear()
    commit = GroupCommit(store.write_batch, store.write_one)
    tasks = [asyncio.create_task(commit.submit(i)) for i in range(3, 7)]
    await asyncio.sleep(0)
    store.gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert [type(r).__name__ if r else None for r in results] == [None, "ValueError", None, None]
    assert str(results[1]) == "item 4 refused"
    assert store.alone == [3, 4, 5, 6] and store.stored == [3, 5, 6]


async def test_a_caller_cancelled_while_waiting_does_not_stop_the_others() -> None:
    store = Store()
    store.gate.clear()
    commit = GroupCommit(store.write_batch, store.write_one)
    gone, kept = asyncio.create_task(commit.submit(1)), asyncio.create_task(commit.submit(2))
    await asyncio.sleep(0)
    gone.cancel()
    store.gate.set()
    await kept
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert store.stored == [1, 2]  # already handed to the store: written, as a request cut off mid-write is
