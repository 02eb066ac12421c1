"""One running stack (the three services as OS processes) shared by the end-to-end test modules.

The fixtures are package-scoped: registered by tests/e2e/conftest.py, the stack lives as long as tests/e2e runs.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from infra.demo import DEMO_ACCOUNTS_ENV
from infra.local.services import ServiceProcess, new_namespace, running_services
from infra.local.stack import Infra
from migradesk_shared.auth import Role, issue_token
from migradesk_shared.topics import TopicNames


@pytest.fixture(scope="package")
def stack_namespace() -> str:
    return new_namespace("e2e")


@pytest.fixture(scope="package")
def api_secret() -> str:
    return secrets.token_urlsafe(32)


class Tokens:
    """Access tokens signed with the stack's secret, as request headers."""

    def __init__(self, secret: str) -> None:
        self._secret = secret

    def headers(self, role: Role, *, subject: str = "tester", agency_id: str | None = None) -> dict[str, str]:
        token = issue_token(self._secret, subject=subject, role=role, agency_id=agency_id)
        return {"Authorization": f"Bearer {token}"}

    @property
    def staff(self) -> dict[str, str]:
        return self.headers(Role.STAFF, subject="ana")

    def agency(self, agency_id: str) -> dict[str, str]:
        return self.headers(Role.AGENCY, subject="recepcao", agency_id=agency_id)


@pytest.fixture(scope="package")
def tokens(api_secret: str) -> Tokens:
    return Tokens(api_secret)


@pytest.fixture(scope="package")
def services(infra: Infra, stack_namespace: str, api_secret: str) -> Iterator[dict[str, ServiceProcess]]:
    with running_services(infra, stack_namespace, api_secret,
                          extra_env={"REFERRAL_SEED_DEMO_AGENCIES": "true", **DEMO_ACCOUNTS_ENV}) as running:
        yield running


@pytest.fixture(scope="package")
def topics(stack_namespace: str) -> TopicNames:
    return TopicNames(f"{stack_namespace}.")
