"""One running stack (the three services as OS processes) shared by the end-to-end test modules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.launcher import Infra, ServiceProcess, new_namespace, running_services
from migradesk_shared.topics import TopicNames


@pytest.fixture(scope="package")
def stack_namespace() -> str:
    return new_namespace("e2e")


@pytest.fixture(scope="package")
def services(infra: Infra, stack_namespace: str) -> Iterator[dict[str, ServiceProcess]]:
    with running_services(infra, stack_namespace, extra_env={"REFERRAL_SEED_DEMO_AGENCIES": "true"}) as running:
        yield running


@pytest.fixture(scope="package")
def topics(stack_namespace: str) -> TopicNames:
    return TopicNames(f"{stack_namespace}.")


