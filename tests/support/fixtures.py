"""Fixtures for tests that need the real Kafka broker and the real MongoDB-compatible store.

infra.local starts both once per test session on free ports (or uses KAFKA_BOOTSTRAP_SERVERS / MONGODB_URI,
a `mongod` on PATH, or a Docker engine); every test gets its own topic prefix and database names.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from infra.local.paths import RUN_DIR
from infra.local.process import free_port
from infra.local.services import new_namespace
from infra.local.stack import Infra, start_infra


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    run_name = new_namespace("test-")
    started = start_infra(kafka_port=free_port(), store_port=free_port(), run_name=run_name)
    try:
        yield started
    finally:
        started.stop()
        shutil.rmtree(RUN_DIR / run_name, ignore_errors=True)


@pytest.fixture
def namespace() -> str:
    return new_namespace()
