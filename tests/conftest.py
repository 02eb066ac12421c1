"""Fixtures for tests that need the real Kafka broker and the real MongoDB-compatible store.

The launcher starts both once per test session on free ports (or uses KAFKA_BOOTSTRAP_SERVERS / MONGODB_URI,
a `mongod` on PATH, or a Docker engine); every test gets its own topic prefix and database names.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

from infra.launcher import LOCAL_DIR, Infra, free_port, new_namespace, start_infra

T = TypeVar("T")


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    run_name = new_namespace("test-")
    started = start_infra(kafka_port=free_port(), store_port=free_port(), run_name=run_name)
    try:
        yield started
    finally:
        started.stop()
        shutil.rmtree(LOCAL_DIR / "run" / run_name, ignore_errors=True)


@pytest.fixture
def namespace() -> str:
    return new_namespace()


async def eventually(probe: Callable[[], Awaitable[T | None]], *, timeout: float = 60.0,
                     interval: float = 0.25, what: str = "condition") -> T:
    """Poll until `probe` returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last value: {last!r}")
