"""Intake's one composition root: runtime, repositories, use cases and the FastAPI app, each overridable."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI

from migradesk_intake.accounts import AccountService
from migradesk_intake.adapters.accounts import (
    AccountRepository,
    MongoAccountRepository,
    MongoSessionRepository,
    SessionRepository,
)
from migradesk_intake.adapters.accounts_memory import InMemoryAccountRepository, InMemorySessionRepository
from migradesk_intake.adapters.governance import (
    GovernanceRepository,
    InMemoryGovernanceRepository,
    MongoGovernanceRepository,
)
from migradesk_intake.adapters.passwords import Argon2Passwords, Passwords
from migradesk_intake.adapters.repository import OUTBOX_COLLECTIONS, IntakeRepository, MongoIntakeRepository
from migradesk_intake.entrypoints import consumers
from migradesk_intake.entrypoints.account_pages import build_account_pages
from migradesk_intake.entrypoints.audit_pages import build_audit_pages
from migradesk_intake.entrypoints.case_pages import build_case_pages, build_worklist_page
from migradesk_intake.entrypoints.governance_http import build_governance_router
from migradesk_intake.entrypoints.governance_pages import build_governance_pages
from migradesk_intake.entrypoints.http import build_router
from migradesk_intake.entrypoints.identity import IntakeSessions
from migradesk_intake.entrypoints.pages import build_pages, desk_pages
from migradesk_intake.governance import GovernanceRegister
from migradesk_intake.service import IntakeService
from migradesk_intake.settings import IntakeSettings
from migradesk_shared.http import service_app
from migradesk_shared.runtime import Runtime
from migradesk_shared.web.session import Identity, SessionCookieMiddleware, derived_key
from migradesk_shared.web.templates import Pages

log = structlog.get_logger("migradesk.intake")

SESSION_PRUNE_SECONDS = 3600


async def prune_sessions(accounts: AccountService) -> None:
    # Ended sessions must not pile up (the store has no TTL index); each one also ends when it is next used.
    while True:
        try:
            removed = await accounts.prune_sessions()
            if removed:
                log.info("ended sessions pruned", removed=removed)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("session pruning failed, will retry", error=repr(exc))
        await asyncio.sleep(SESSION_PRUNE_SECONDS)


def create_app(settings: IntakeSettings | None = None, runtime: Runtime | None = None,
               repository: IntakeRepository | None = None, pages: Pages | None = None, *,
               accounts: AccountRepository | None = None, sessions: SessionRepository | None = None,
               passwords: Passwords | None = None, identity: Identity | None = None,
               governance: GovernanceRepository | None = None) -> FastAPI:
    """The intake service. Defaults: a runtime from the settings and the repositories on its store, Argon2
    password hashing, the session cookie as the pages' identity, the pages with their catalogs. Given only a
    repository (e.g. the in-memory one), the app runs without any runtime: no store, broker or relay, and
    accounts and sessions in memory unless given. `identity` is the seam for another source of who is signed
    in (e.g. what an OpenID Connect proxy in front vouches for; see the README)."""
    settings = settings or IntakeSettings()
    # Loaded here, not at the first request: a missing compiled catalog stops the service at start-up.
    pages = pages or desk_pages()

    def account_service(account_repo: AccountRepository, session_repo: SessionRepository) -> AccountService:
        return AccountService(account_repo, session_repo, passwords or Argon2Passwords(),
                              rules=settings.account_rules, session_rules=settings.session_rules)

    async def start_accounts(app: FastAPI, service: AccountService) -> None:
        await service.accounts.ensure_indexes()
        await service.sessions.ensure_indexes()
        app.state.accounts = service
        if settings.seed_demo_accounts:
            from migradesk_intake.demo import DEMO_ACCOUNTS

            created = await service.ensure_demo_accounts(DEMO_ACCOUNTS)
            if created:
                log.info("demo accounts created", accounts=created)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if runtime is None and repository is not None:
            app.state.runtime, app.state.store = None, repository
            app.state.service = IntakeService(repository, municipality=settings.municipality,
                                              timezone=settings.timezone)
            app.state.governance = GovernanceRegister(governance or InMemoryGovernanceRepository(),
                                                      municipality=settings.municipality)
            await start_accounts(app, account_service(accounts or InMemoryAccountRepository(),
                                                      sessions or InMemorySessionRepository()))
            yield
            return
        rt = runtime or Runtime.create(settings, outbox_collections=OUTBOX_COLLECTIONS)
        # The repository tells the relay of every write with events, so they go out at once.
        # The access log's chain is keyed by the deployment's secret (keep the old one to verify older chains).
        audit_key = derived_key(settings.api_token_secret.get_secret_value(), "audit-log")
        repo = repository or MongoIntakeRepository(rt.db, on_write=rt.written, audit_key=audit_key)
        await repo.ensure_indexes()
        app.state.service = IntakeService(repo, municipality=settings.municipality, timezone=settings.timezone)
        register = governance or MongoGovernanceRepository(rt.db, on_write=rt.written)
        await register.ensure_indexes()
        app.state.governance = GovernanceRegister(register, municipality=settings.municipality)
        consumers.subscribe(rt, app.state.service)
        service = account_service(accounts or MongoAccountRepository(rt.db), sessions or MongoSessionRepository(rt.db))
        await start_accounts(app, service)
        pruner = asyncio.create_task(prune_sessions(service), name="session-pruner")
        try:
            async with rt.serving(app, repo):
                yield
        finally:
            pruner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pruner

    app: FastAPI

    async def readiness() -> dict[str, bool]:
        # The desk keeps working while Kafka is down (the outbox holds the events), so only the store counts.
        runtime_now: Runtime | None = app.state.runtime
        return {"store": True if runtime_now is None else (await runtime_now.readiness())["store"]}

    app = service_app(title="MigraDesk intake", settings=settings, lifespan=lifespan,
                      router=build_router(), readiness=readiness)
    # Set before start-up: request dependencies read it. Intake checks the session record on every request.
    app.state.identity = identity or IntakeSessions()
    app.add_middleware(SessionCookieMiddleware)
    pages.install_error_pages(app)
    app.include_router(build_pages(pages))
    app.include_router(build_case_pages(pages))
    app.include_router(build_worklist_page(pages))
    app.include_router(build_account_pages(pages))
    app.include_router(build_governance_router())
    app.include_router(build_governance_pages(pages))
    app.include_router(build_audit_pages(pages))
    return app
