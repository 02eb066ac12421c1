"""Referral's composition root: the runtime (store, Kafka, outbox relay), the repository, the use cases, the
consumers of case events and profiles, the periodic jobs, the inbox API and the agencies' inbox pages. Every
default can be overridden, so tests swap in an in-memory repository or their own runtime."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from migradesk_referral.adapters.mail import NoticeMail, SmtpNoticeSender
from migradesk_referral.adapters.mappers import demo_directory
from migradesk_referral.adapters.repository import REFERRALS, MongoReferralRepository, ReferralRepository
from migradesk_referral.domain.notifications import MailSetup
from migradesk_referral.domain.sla import SlaPolicy
from migradesk_referral.entrypoints.agency_pages import build_agency_pages
from migradesk_referral.entrypoints.consumers import subscribe
from migradesk_referral.entrypoints.escalation_pages import build_escalation_pages
from migradesk_referral.entrypoints.http import build_router
from migradesk_referral.entrypoints.jobs import running_jobs
from migradesk_referral.entrypoints.pages import AREA_LABELS, CATEGORY_LABELS, build_inbox_pages, inbox_pages
from migradesk_referral.service import NoticeSender, ReferralService
from migradesk_referral.settings import ReferralSettings
from migradesk_shared.http import service_app
from migradesk_shared.runtime import Runtime
from migradesk_shared.web.i18n import DEFAULT_LOCALE
from migradesk_shared.web.session import derived_key
from migradesk_shared.web.templates import Pages


def notice_sender(settings: ReferralSettings, pages: Pages) -> SmtpNoticeSender:
    """The notices of escalations, written in the municipality's language and sent through its SMTP server."""
    return SmtpNoticeSender(settings, NoticeMail(
        sender=settings.mail_from, pages_base_url=settings.pages_base_url, gettext=pages.gettext(DEFAULT_LOCALE),
        timezone=settings.timezone, locale=DEFAULT_LOCALE, area_labels=AREA_LABELS,
        category_labels=CATEGORY_LABELS))


def create_app(settings: ReferralSettings | None = None, runtime: Runtime | None = None,
               repository: ReferralRepository | None = None, pages: Pages | None = None,
               sender: NoticeSender | None = None) -> FastAPI:
    """The referral service. Given only a repository (e.g. the in-memory one), the app runs without any runtime:
    no store, broker, relay or periodic jobs (the pages' and the API's tests)."""
    settings = settings or ReferralSettings()
    # Loaded here, not at the first request: a missing compiled catalog stops the service at start-up.
    pages = pages or inbox_pages()
    # The municipality's working hours and holidays, for the response deadlines: built once, at start.
    sla_policy = SlaPolicy.for_municipality(
        timezone=settings.timezone, state=settings.municipality_state, opens=settings.working_hours_start,
        closes=settings.working_hours_end, working_days=frozenset(settings.working_days),
        municipal_holidays=frozenset(settings.municipal_holidays))
    # Escalations are written to the agency and the desk when a mail server is configured (else recorded unsent).
    mail = MailSetup(mail_server=bool(settings.smtp_host), desk_address=settings.desk_notification_email or None)
    sender = sender or (notice_sender(settings, pages) if settings.smtp_host else None)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if runtime is None and repository is not None:
            await repository.prepare()
            if settings.seed_demo_agencies:
                await repository.add_agencies(demo_directory())
            app.state.runtime = None
            app.state.service = ReferralService(repository, sla_policy=sla_policy, mail=mail, sender=sender)
            yield
            return
        rt = runtime or Runtime.create(settings, outbox_collections=[REFERRALS])
        # Every write with events tells the relay, so they go out at once.
        # The access log's chain is keyed by the deployment's secret (keep the old one to verify older chains).
        audit_key = derived_key(settings.api_token_secret.get_secret_value(), "audit-log")
        referrals = repository or MongoReferralRepository(rt.db, on_write=rt.written, audit_key=audit_key)
        await referrals.prepare()
        if settings.seed_demo_agencies:
            await referrals.add_agencies(demo_directory())
        reroute_wake = asyncio.Event()
        service = ReferralService(referrals, on_declined=reroute_wake.set, sla_policy=sla_policy, mail=mail,
                                  sender=sender)
        subscribe(rt, service)
        app.state.service = service
        async with rt.serving(app, referrals), running_jobs(service, settings, rt.logger, reroute_wake):
            yield

    app: FastAPI

    async def readiness() -> dict[str, bool]:
        runtime_now: Runtime | None = getattr(app.state, "runtime", None)
        return {"store": True} if runtime_now is None else await runtime_now.readiness()

    app = service_app(title="MigraDesk referral", settings=settings, lifespan=lifespan, router=build_router(),
                      readiness=readiness)
    # The pages: anonymous browsers go to intake's sign-in page (`accounts_url`), refusals are translated pages.
    pages.install_error_pages(app)
    app.include_router(build_inbox_pages(pages))
    app.include_router(build_agency_pages(pages))
    app.include_router(build_escalation_pages(pages))
    return app
