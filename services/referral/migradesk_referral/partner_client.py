"""A reference client for an agency's own system (run it, or copy it): read the referrals dispatched to the agency
and send its responses back over Kafka.

    python -m migradesk_referral.partner_client listen --agency ubs-jardim-climax
    python -m migradesk_referral.partner_client respond --agency ubs-jardim-climax --referral <id> --action accept \\
        --expected-version 1

`listen` reads its area's dispatch topics (referral.dispatch.<area>.v1; all areas unless --area is given) in a
consumer group of the agency's own (`<prefix>partner.<agency>`), keeps the referrals addressed to the agency, prints
one JSON line per referral on standard output and commits after printing (at least once: a referral may be printed
again after a crash, so handle it by referral_id). The person's contact is not on the topic: the agency reads it on
referral's API (GET /api/referrals/{id}); the client logs ids only, never personal data.

`respond` publishes a PartnerResponse (the shared contract) on referral.partner-responses.v1, key = referral_id, and
prints its event_id. Referral applies it as the agency's step (the same state machine and rules as the API, actor
role partner_system); a response it refuses (another agency's referral, an illegal transition, a stale
--expected-version, a desk's action) goes to referral.partner-responses.v1.dlq with the reason in the `dlq-error`
header. Sending the same response again (--event-id of the first) is applied once.

The broker and the topic prefix come from the same settings as referral's (REFERRAL_KAFKA_BOOTSTRAP_SERVERS,
REFERRAL_TOPIC_PREFIX), or --bootstrap-servers and --topic-prefix.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import ValidationError

from migradesk_referral.domain.referral import AGENCY_ACTIONS
from migradesk_referral.settings import ReferralSettings
from migradesk_shared.contracts.envelope import new_id
from migradesk_shared.contracts.referral_events import PartnerResponse, ReferralDispatched
from migradesk_shared.contracts.vocabulary import Action, DeclineReason, Outcome, ServiceArea
from migradesk_shared.topics import DISPATCH, PARTNER_RESPONSES, TopicNames

log = logging.getLogger("migradesk.partner_client")

OnReferral = Callable[[ReferralDispatched], Awaitable[None] | None]


def consumer_group(agency_id: str, names: TopicNames) -> str:
    """One consumer group per agency: each agency reads every referral of its area's topic, on its own."""
    return f"{names.prefix}partner.{agency_id}"


def summary(referral: ReferralDispatched) -> dict[str, Any]:
    """What the client prints and logs of a dispatched referral: ids and what was asked, no personal data."""
    return {"referral_id": referral.referral_id, "case_id": referral.case_id, "request_id": referral.request_id,
            "category": referral.category, "service_area": referral.service_area.value,
            "agency_id": referral.agency_id, "dispatched_at": referral.occurred_at.isoformat(),
            "event_id": referral.event_id}


async def listen(bootstrap_servers: str, names: TopicNames, agency_id: str, *,
                 areas: Sequence[ServiceArea] = tuple(ServiceArea), on_referral: OnReferral | None = None,
                 max_referrals: int | None = None, idle_seconds: float | None = None) -> int:
    """Read the referrals dispatched to `agency_id` until stopped (or `max_referrals` were read, or nothing came
    for `idle_seconds`); returns how many were read. Offsets are committed once each batch was handled."""
    topics = [names(DISPATCH[area]) for area in areas]
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap_servers,
                                group_id=consumer_group(agency_id, names), client_id=f"partner-{agency_id}",
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    read = 0
    loop = asyncio.get_running_loop()
    last_seen = loop.time()
    try:
        while max_referrals is None or read < max_referrals:
            batches = await consumer.getmany(timeout_ms=500)
            if not batches:
                if idle_seconds is not None and loop.time() - last_seen >= idle_seconds:
                    break
                continue
            last_seen = loop.time()
            for records in batches.values():
                for record in records:
                    try:
                        referral = ReferralDispatched.model_validate_json(record.value or b"")
                    except ValidationError as exc:
                        log.warning("unreadable message skipped: topic=%s partition=%s offset=%s errors=%s",
                                    record.topic, record.partition, record.offset, exc.error_count())
                        continue
                    if referral.agency_id != agency_id:
                        continue  # another agency of the same area
                    log.info("referral dispatched: referral_id=%s category=%s area=%s", referral.referral_id,
                             referral.category, referral.service_area.value)
                    if on_referral is not None:
                        handled = on_referral(referral)
                        if handled is not None:
                            await handled
                    read += 1
            await consumer.commit()
    finally:
        await consumer.stop()
    return read


def build_response(*, agency_id: str, referral_id: str, action: Action, reason: str | None = None,
                   outcome: Outcome | None = None, scheduled_for: datetime | None = None,
                   comment: str | None = None, expected_version: int | None = None,
                   event_id: str | None = None, producer: str | None = None) -> PartnerResponse:
    """A PartnerResponse: `reason` is the decline reason (a DeclineReason code) of a decline, or the
    could_not_help reason (a code) of a completion; for any other action it is taken as the comment."""
    decline_reason = DeclineReason(reason) if action is Action.DECLINE and reason else None
    could_not_help = reason if action is Action.COMPLETE and reason else None
    if reason and action not in (Action.DECLINE, Action.COMPLETE):
        comment = comment or reason
    return PartnerResponse(event_id=event_id or new_id(), producer=producer or f"{agency_id}-partner-client",
                           referral_id=referral_id, agency_id=agency_id, action=action, decline_reason=decline_reason,
                           outcome=outcome, could_not_help_reason=could_not_help, scheduled_for=scheduled_for,
                           comment=comment, expected_version=expected_version)


async def respond(bootstrap_servers: str, names: TopicNames, response: PartnerResponse) -> None:
    """Publish one response (idempotent producer, acks=all) and wait for the broker's acknowledgement."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, client_id=f"partner-{response.agency_id}",
                                enable_idempotence=True, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(names(PARTNER_RESPONSES), key=response.partition_key().encode(),
                                     value=response.model_dump_json().encode(),
                                     headers=[("event-type", b"PartnerResponse"),
                                              ("content-type", b"application/json")])
    finally:
        await producer.stop()
    log.info("response sent: referral_id=%s action=%s event_id=%s", response.referral_id, response.action.value,
             response.event_id)


def _aware(text: str) -> datetime:
    at = datetime.fromisoformat(text)
    if at.tzinfo is None:
        raise argparse.ArgumentTypeError("give the time with its UTC offset, e.g. 2026-03-12T10:00:00-04:00")
    return at


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m migradesk_referral.partner_client",
                                     description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap-servers", help="Kafka (default: REFERRAL_KAFKA_BOOTSTRAP_SERVERS)")
    parser.add_argument("--topic-prefix", help="topic name prefix (default: REFERRAL_TOPIC_PREFIX)")
    commands = parser.add_subparsers(dest="command", required=True)

    listen_cmd = commands.add_parser("listen", help="print the referrals dispatched to the agency")
    listen_cmd.add_argument("--agency", required=True, help="the agency's id in the directory")
    listen_cmd.add_argument("--area", action="append", choices=[a.value for a in ServiceArea],
                            help="the agency's service area(s) (default: every area)")
    listen_cmd.add_argument("--max", type=int, dest="max_referrals", help="stop after this many referrals")
    listen_cmd.add_argument("--idle-seconds", type=float, help="stop after this long without a message")

    respond_cmd = commands.add_parser("respond", help="send the agency's step on a referral")
    respond_cmd.add_argument("--agency", required=True)
    respond_cmd.add_argument("--referral", required=True, help="the referral's id")
    respond_cmd.add_argument("--action", required=True, choices=sorted(a.value for a in AGENCY_ACTIONS))
    respond_cmd.add_argument("--scheduled-for", type=_aware,
                             help="schedule: ISO 8601 with its offset, e.g. 2026-03-12T10:00:00-04:00")
    respond_cmd.add_argument("--outcome", choices=[o.value for o in Outcome], help="complete: the outcome")
    respond_cmd.add_argument("--reason", help="decline: " + "|".join(r.value for r in DeclineReason)
                             + "; complete with could_not_help: a reason code; otherwise the comment")
    respond_cmd.add_argument("--comment", help="free text kept in referral's store (never in events)")
    respond_cmd.add_argument("--expected-version", type=int, help="the version read (GET /api/referrals/{id})")
    respond_cmd.add_argument("--event-id", help="resend an earlier response: its event_id (default: a new one)")
    return parser


async def _main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = ReferralSettings()
    bootstrap = args.bootstrap_servers or settings.kafka_bootstrap_servers
    names = TopicNames(settings.topic_prefix if args.topic_prefix is None else args.topic_prefix)
    if args.command == "listen":
        def show(referral: ReferralDispatched) -> None:
            print(json.dumps(summary(referral), sort_keys=True), flush=True)

        areas = [ServiceArea(a) for a in args.area] if args.area else list(ServiceArea)
        await listen(bootstrap, names, args.agency, areas=areas, on_referral=show,
                     max_referrals=args.max_referrals, idle_seconds=args.idle_seconds)
        return 0
    try:
        response = build_response(agency_id=args.agency, referral_id=args.referral, action=Action(args.action),
                                  reason=args.reason, outcome=Outcome(args.outcome) if args.outcome else None,
                                  scheduled_for=args.scheduled_for, comment=args.comment,
                                  expected_version=args.expected_version, event_id=args.event_id)
    except (ValidationError, ValueError) as exc:
        print(f"invalid response: {exc}", file=sys.stderr)
        return 2
    await respond(bootstrap, names, response)
    print(json.dumps({"event_id": response.event_id, "referral_id": response.referral_id,
                      "action": response.action.value}), flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    try:
        return asyncio.run(_main(argv))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
