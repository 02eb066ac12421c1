"""End to end: an agency's own system, through the reference client over the real broker, takes a referral
through the same states as the web API; refused responses land on the dead-letter topic with their reasons and
do not block the responses after them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from infra.local.services import ServiceProcess
from infra.local.stack import Infra
from migradesk_referral import partner_client
from migradesk_shared.contracts.referral_events import ReferralDispatched
from migradesk_shared.topics import PARTNER_RESPONSES, ServiceArea, TopicNames
from tests.conftest import eventually
from tests.e2e.conftest import Tokens
from tests.e2e.test_pipeline import case_payload, referrals_for_case

pytestmark = [pytest.mark.e2e, pytest.mark.infra, pytest.mark.slow]

STATES = ["pending", "accepted", "scheduled", "attended", "completed"]


async def client_cli(infra: Infra, topics: TopicNames, *args: str) -> dict[str, Any]:
    """Run the reference client as an agency's IT would, and return what it printed."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "migradesk_referral.partner_client", "--bootstrap-servers", infra.bootstrap_servers,
        "--topic-prefix", topics.prefix, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


async def respond(infra: Infra, topics: TopicNames, agency: str, referral_id: str, action: str,
                  *options: str) -> str:
    sent = await client_cli(infra, topics, "respond", "--agency", agency, "--referral", referral_id,
                            "--action", action, *options)
    return str(sent["event_id"])


async def registered_referral(client: httpx.AsyncClient,
                              services: dict[str, ServiceProcess]) -> tuple[str, dict[str, Any]]:
    created = await client.post(f"{services['intake'].url}/api/cases", json=case_payload("sus_card"))
    assert created.status_code == 201, created.text
    case_id = created.json()["case_id"]
    [referral] = await eventually(lambda: referrals_for_case(client, services["referral"].url, case_id),
                                  what="the referral")
    return case_id, referral


async def referral_in(client: httpx.AsyncClient, url: str, referral_id: str, status: str) -> dict[str, Any] | None:
    shown = (await client.get(f"{url}/api/referrals/{referral_id}")).json()
    return shown if shown.get("status") == status else None


async def intake_shows(client: httpx.AsyncClient, url: str, case_id: str, referral_id: str, status: str) -> bool:
    case = (await client.get(f"{url}/api/cases/{case_id}")).json()
    return any(r["referral_id"] == referral_id and r["status"] == status for r in case.get("referrals", []))


async def dead_letters(infra: Infra, topics: TopicNames, referral_id: str, count: int) -> list[dict[str, str]]:
    """The dead-lettered responses of one referral (its key), with their headers, once `count` are there."""
    topic = topics.dlq(PARTNER_RESPONSES)
    consumer = AIOKafkaConsumer(bootstrap_servers=infra.bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])

        async def read() -> list[dict[str, str]] | None:
            await consumer.seek_to_beginning(partition)
            found: list[dict[str, str]] = []
            while batches := await consumer.getmany(partition, timeout_ms=1000):
                for record in batches[partition]:
                    if record.key == referral_id.encode():
                        found.append({k: v.decode() for k, v in record.headers}
                                     | {"value": (record.value or b"").decode()})
            return found if len(found) >= count else None

        return await eventually(read, what=f"{count} dead-lettered responses", interval=1.0)
    finally:
        await consumer.stop()


async def test_an_agencys_system_takes_a_referral_through_the_same_states_as_the_web_api(
        services: dict[str, ServiceProcess], tokens: Tokens, infra: Infra, topics: TopicNames) -> None:
    intake, referral_url = services["intake"].url, services["referral"].url
    async with httpx.AsyncClient(timeout=10, headers=tokens.staff) as client:
        case_id, referral = await registered_referral(client, services)
        rid, agency = referral["referral_id"], referral["agency_id"]
        assert referral["status"] == "pending"

        # The agency's client reads its dispatch topic (its own consumer group) and sees the referral: ids only.
        seen: list[ReferralDispatched] = []
        listening = asyncio.create_task(partner_client.listen(infra.bootstrap_servers, topics, agency,
                                                              areas=[ServiceArea.HEALTH], on_referral=seen.append))
        try:
            await eventually(lambda: asyncio.sleep(0, [r for r in seen if r.referral_id == rid]),
                             what="the dispatched referral at the agency's client")
        finally:
            listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listening
        assert {r.agency_id for r in seen} == {agency}
        printed = partner_client.summary(next(r for r in seen if r.referral_id == rid))
        assert "María" not in json.dumps(printed) and "preferred_language" not in printed

        accepted = await respond(infra, topics, agency, rid, "accept", "--expected-version",
                                 str(referral["version"]))
        await eventually(lambda: referral_in(client, referral_url, rid, "accepted"), what="accepted")

        # One after the other on the referral's partition: each refused one is dead-lettered, the next applied.
        other = "ubs-vila-industrial" if agency != "ubs-vila-industrial" else "ubs-jardim-climax"
        await respond(infra, topics, other, rid, "schedule", "--scheduled-for", "2030-01-10T10:00:00-04:00")
        when = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0).isoformat()
        await respond(infra, topics, agency, rid, "schedule", "--scheduled-for", when)
        await respond(infra, topics, agency, rid, "accept")  # scheduled -> accept: illegal
        attended = await respond(infra, topics, agency, rid, "attend")
        await respond(infra, topics, agency, rid, "attend", "--event-id", attended)  # sent twice: applied once
        await respond(infra, topics, agency, rid, "accept", "--event-id", accepted)  # an old one again: nothing
        await respond(infra, topics, agency, rid, "complete", "--outcome", "got_help")

        done = await eventually(lambda: referral_in(client, referral_url, rid, "completed"), what="completed")
        assert [h["status"] for h in done["history"]] == STATES
        assert done["outcome"] == "got_help" and done["version"] == 5
        assert {h["actor"] for h in done["history"][1:]} == {f"partner_system:{agency}-partner-client@{agency}"}
        await eventually(lambda: intake_shows(client, intake, case_id, rid, "completed"),
                         what="intake's case read showing the referral completed")

        # The same steps through the web API give the same states.
        web_case, web = await registered_referral(client, services)
        as_agency = tokens.agency(web["agency_id"])
        for action, extra in [("accept", {}), ("schedule", {"scheduled_for": when}), ("attend", {}),
                              ("complete", {"outcome": "got_help"})]:
            stepped = await client.post(f"{referral_url}/api/referrals/{web['referral_id']}/actions",
                                        headers=as_agency, json={"action": action, **extra})
            assert stepped.status_code == 200, stepped.text
        shown = (await client.get(f"{referral_url}/api/referrals/{web['referral_id']}")).json()
        assert [h["status"] for h in shown["history"]] == STATES
        await eventually(lambda: intake_shows(client, intake, web_case, web["referral_id"], "completed"),
                         what="intake's case read of the web API's referral")

    refused = await dead_letters(infra, topics, rid, 2)
    assert [r["dlq-error"] for r in refused] == [
        f"rejected: agency {other} is not the agency of referral {rid} ({agency})",
        "rejected: illegal transition: scheduled -> accept (cannot accept a referral that is scheduled: from "
        "scheduled the allowed actions are: attend, cancel, no_show, schedule, unable_to_contact)"]
    assert {r["dlq-original-topic"] for r in refused} == {topics(PARTNER_RESPONSES)}
    assert json.loads(refused[0]["value"])["agency_id"] == other
