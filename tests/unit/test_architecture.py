"""The layering the design fixes (DESIGN.md §8), checked on the imports of every module.

- shared/ imports no service: it holds the contracts and the platform plumbing every service needs alike;
- no service imports another: services meet only through Kafka contracts;
- each service's domain/ is pure: no I/O library, and from shared only the contracts' vocabulary and errors.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("intake", "referral", "metrics")
SERVICE_PACKAGES = {f"migradesk_{s}" for s in SERVICES}
# Libraries that talk to the outside world (or run it): none of them belongs in a domain.
IO_LIBRARIES = {"pymongo", "motor", "bson", "aiokafka", "kafka", "faststream", "fastapi", "starlette", "httpx",
                "uvicorn", "requests", "urllib", "socket", "subprocess", "sqlite3", "asyncio", "os", "pathlib",
                "structlog", "logging", "opentelemetry", "prometheus_client", "jinja2", "smtplib"}
# What a domain may use of shared/: the vocabulary and shapes of the contracts, and the error base classes.
DOMAIN_MAY_IMPORT_FROM_SHARED = ("migradesk_shared.contracts.", "migradesk_shared.errors", "migradesk_shared.topics")
NOT_PURE_CONTRACT_MODULES = {"migradesk_shared.contracts.docs", "migradesk_shared.contracts.registry"}


def modules(folder: Path) -> Iterator[Path]:
    yield from (p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def imported(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def top(name: str) -> str:
    return name.split(".")[0]


def test_the_walk_sees_the_code() -> None:
    # A walk over nothing would pass every rule below.
    assert len(list(modules(ROOT / "shared" / "migradesk_shared"))) > 10
    for service in SERVICES:
        assert list(modules(ROOT / "services" / service / f"migradesk_{service}" / "domain"))


def test_shared_imports_no_service() -> None:
    offenders = {str(p.relative_to(ROOT)): sorted(n for n in imported(p) if top(n) in SERVICE_PACKAGES)
                 for p in modules(ROOT / "shared" / "migradesk_shared")}
    assert {p: names for p, names in offenders.items() if names} == {}


@pytest.mark.parametrize("service", SERVICES)
def test_no_service_imports_another(service: str) -> None:
    others = SERVICE_PACKAGES - {f"migradesk_{service}"}
    offenders = {str(p.relative_to(ROOT)): sorted(n for n in imported(p) if top(n) in others)
                 for p in modules(ROOT / "services" / service)}
    assert {p: names for p, names in offenders.items() if names} == {}


@pytest.mark.parametrize("service", SERVICES)
def test_each_domain_is_pure(service: str) -> None:
    offenders: dict[str, list[str]] = {}
    for path in modules(ROOT / "services" / service / f"migradesk_{service}" / "domain"):
        bad = []
        for name in imported(path):
            if top(name) in IO_LIBRARIES:
                bad.append(name)
            elif top(name) == "migradesk_shared" and (
                    not name.startswith(DOMAIN_MAY_IMPORT_FROM_SHARED)
                    or any(name.startswith(m) for m in NOT_PURE_CONTRACT_MODULES)):
                bad.append(name)
            elif top(name) in SERVICE_PACKAGES and not name.startswith(f"migradesk_{service}.domain"):
                bad.append(name)  # the domain does not reach up into its own service's adapters
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert offenders == {}
