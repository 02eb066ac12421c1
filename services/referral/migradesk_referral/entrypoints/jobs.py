"""Referral's periodic jobs: re-route declined referrals (also woken at once by a decline), escalate unanswered
ones, send the e-mail notices of escalations (where a mail server is configured), recount the agencies'
open-referral counters."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from migradesk_referral.service import ReferralService
from migradesk_referral.settings import ReferralSettings


async def every(seconds: float, job: Callable[[], Awaitable[Any]], logger: Any, *, name: str,
                wake: asyncio.Event | None = None) -> None:
    """Run a background job periodically (or when woken); a failing round is logged and retried."""
    while True:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("background job failed, will retry", job=name, error=repr(exc))
        if wake is None:
            await asyncio.sleep(seconds)
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=seconds)
        wake.clear()


@contextlib.asynccontextmanager
async def running_jobs(service: ReferralService, settings: ReferralSettings, logger: Any,
                       reroute_wake: asyncio.Event) -> AsyncIterator[None]:
    loops = [
        asyncio.create_task(every(settings.reroute_poll_seconds, service.reroute_declined, logger,
                                  name="reroute", wake=reroute_wake)),
        asyncio.create_task(every(settings.sla_check_seconds, service.flag_overdue, logger, name="check_sla")),
        asyncio.create_task(every(settings.load_reconcile_seconds, service.reconcile_load, logger,
                                  name="reconcile_load")),
    ]
    if settings.smtp_host:
        loops.append(asyncio.create_task(every(settings.notify_poll_seconds, service.send_notices, logger,
                                               name="send_notices")))
    try:
        yield
    finally:
        for task in loops:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
