"""End to end: the three services as separate OS processes over the real Kafka broker and the real store."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pymongo import AsyncMongoClient

from infra.local.kafka import LocalKafka
from infra.local.services import ServiceProcess
from infra.local.stack import Infra
from migradesk_metrics.domain.indicators import AREA_DIMENSION
from migradesk_shared.auth import Role
from migradesk_shared.contracts.case_events import PersonFacets, RequestLogged
from migradesk_shared.topics import CASE_EVENTS, PERSON_PROFILES, REFERRAL_EVENTS, ServiceArea, TopicNames
from tests.conftest import eventually
from tests.e2e.conftest import Tokens

pytestmark = [pytest.mark.e2e, pytest.mark.infra, pytest.mark.slow]


def case_payload(category: str = "sus_card", **person: Any) -> dict[str, Any]:
    return {
        "person": {"full_name": "María José Pérez", "birth_date": "1990-05-04", "sex": "female",
                   "nationality": "VEN", "preferred_language": "es", "migratory_status": "solicitante_refugio",
                   "consent": {"legal_basis": "consent", "share_with_partners": True, "recorded_by": "ana"},
                   **person},
        "requests": [{"category": category, "description": "precisa do cartão SUS"}],
    }


async def area_count(client: httpx.AsyncClient, url: str, area: str, counter: str, tokens: Tokens) -> int:
    """A counter of one service area over every period, exact: requests from the raw indicators (a coordinator's;
    the summary publishes them suppressed, "<5" for a small count), other counters from the summary."""
    if counter == "requests_logged":
        response = await client.get(f"{url}/api/metrics/indicators", headers=tokens.headers(Role.COORDINATOR))
        response.raise_for_status()
        dimension = str(AREA_DIMENSION[ServiceArea(area)])
        return sum(p[dimension]["requests"] for p in response.json()["periods"].values())
    response = await client.get(f"{url}/api/metrics/summary")
    response.raise_for_status()
    return sum(p["areas"].get(area, {}).get(counter, 0) for p in response.json()["periods"].values())


async def referrals_for_case(client: httpx.AsyncClient, url: str, case_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"{url}/api/referrals", params={"case_id": case_id})
    response.raise_for_status()
    return list(response.json()["referrals"])


async def test_health_request_reaches_referral_inbox_and_metrics(
        services: dict[str, ServiceProcess], tokens: Tokens, infra: Infra, stack_namespace: str) -> None:
    intake, referral, metrics = services["intake"].url, services["referral"].url, services["metrics"].url
    async with httpx.AsyncClient(timeout=10, headers=tokens.staff) as client:
        before = await area_count(client, metrics, "health", "requests_logged", tokens)
        created = await client.post(f"{intake}/api/cases", json=case_payload("sus_card"))
        assert created.status_code == 201, created.text
        case_id = created.json()["case_id"]

        found = await eventually(lambda: referrals_for_case(client, referral, case_id), what="the referral")
        assert len(found) == 1
        assert found[0]["service_area"] == "health"
        assert found[0]["status"] == "pending"
        agency = found[0]["agency_id"]
        inbox = (await client.get(f"{referral}/api/referrals", params={"agency_id": agency})).json()["referrals"]
        assert case_id in {r["case_id"] for r in inbox}

        async def counted() -> bool:
            return await area_count(client, metrics, "health", "requests_logged", tokens) == before + 1

        await eventually(counted, what="the health count +1")

        # Published tables never show a count from 1 to 4, in a cell or a total.
        evidence = (await client.get(f"{metrics}/api/metrics/evidence")).json()
        tables = [t for period in evidence["periods"].values() for t in period.values()]
        assert tables, "no evidence tables"
        for table in tables:
            shown = [v for row in table["cells"] for v in row] + table["row_totals"] + table["column_totals"]
            assert not [v for v in [*shown, table["total"]] if isinstance(v, int) and 0 < v < 5], table
        assert "<5" in {v for t in tables for row in t["cells"] for v in row}
        bad_period = await client.get(f"{metrics}/api/metrics/evidence", params={"period": "2026-13-01"})
        assert bad_period.status_code == 422 and bad_period.json()["errors"][0]["field"] == "period"

        exposition = (await client.get(f"{metrics}/metrics")).text
        assert 'migradesk_consumer_lag{group="' in exposition  # Prometheus sees how far behind consumers are
        assert "migradesk_events_consumed_total" in exposition

        stored = await client.get(f"{intake}/api/cases/{case_id}")
        assert stored.status_code == 200
        assert stored.json()["requests"][0]["category"] == "sus_card"
        assert stored.json()["person"]["full_name"] == "María José Pérez"
        missing = await client.get(f"{intake}/api/cases/{uuid.uuid4()}")
        assert missing.status_code == 404 and missing.json()["field"] == "case_id"

    # LGPD: the write and the read of the person record are audited, with who and when.
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(infra.mongodb_uri)
    try:
        intake_db = mongo[f"{stack_namespace}_intake"]
        case_doc = await intake_db["cases"].find_one({"_id": case_id})
        assert case_doc is not None and [a["action"] for a in case_doc["audit"]] == ["case.open"]
        reads = await intake_db["audit_log"].find({"case_id": case_id}).to_list()
        assert [(r["actor"], r["action"]) for r in reads] == [("staff:ana", "case.read")]
    finally:
        await mongo.close()


async def test_invalid_post_is_422_naming_the_field_and_nothing_is_stored(
        services: dict[str, ServiceProcess], tokens: Tokens, infra: Infra, stack_namespace: str) -> None:
    intake = services["intake"].url
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(infra.mongodb_uri)
    cases = mongo[f"{stack_namespace}_intake"]["cases"]
    try:
        before = await cases.count_documents({})
        async with httpx.AsyncClient(timeout=10, headers=tokens.staff) as client:
            bad_date = case_payload(birth_date="not-a-date")
            response = await client.post(f"{intake}/api/cases", json=bad_date)
            assert response.status_code == 422
            assert response.json()["errors"][0]["field"] == "person.birth_date"

            unknown_category = case_payload("teleportation")
            response = await client.post(f"{intake}/api/cases", json=unknown_category)
            assert response.status_code == 422
            assert "requests.0.category" in response.json()["message"]

            no_requests = {**case_payload(), "requests": []}
            response = await client.post(f"{intake}/api/cases", json=no_requests)
            assert response.status_code == 422
            assert response.json()["errors"][0]["field"] == "requests"
        assert await cases.count_documents({}) == before
        # Nothing stored means nothing in any outbox, so nothing can be published.
        assert await cases.count_documents({"outbox_pending": True}) == 0
    finally:
        await mongo.close()


def request_logged(case_id: str | None = None, area: str = "health", category: str = "sus_card") -> RequestLogged:
    case_id = case_id or str(uuid.uuid4())
    return RequestLogged(producer="test", case_id=case_id, request_id=str(uuid.uuid4()), category=category,
                         service_area=area, municipality="Dourados-MS",  # type: ignore[arg-type]
                         facets=PersonFacets(nationality="HTI", language="ht"))


async def publish(infra: Infra, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap_servers, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for key, value in messages:
            await producer.send_and_wait(topic, value=value, key=key)
    finally:
        await producer.stop()


async def test_same_event_twice_gives_one_referral_and_one_count(
        services: dict[str, ServiceProcess], tokens: Tokens, infra: Infra, topics: TopicNames) -> None:
    referral, metrics = services["referral"].url, services["metrics"].url
    event = request_logged()
    # A different request of the same case, published last on the same key (so the same partition): once it
    # is counted, both copies of the duplicate were processed before it.
    sentinel = request_logged(case_id=event.case_id, area="education", category="school_enrolment")
    key = event.case_id.encode()
    async with httpx.AsyncClient(timeout=10, headers=tokens.staff) as client:
        health_before = await area_count(client, metrics, "health", "requests_logged", tokens)
        referrals_before = await area_count(client, metrics, "health", "referrals_created", tokens)
        education_before = await area_count(client, metrics, "education", "referrals_created", tokens)
        body = event.model_dump_json().encode()
        sentinel_body = sentinel.model_dump_json().encode()
        await publish(infra, topics(CASE_EVENTS), [(key, body), (key, body), (key, sentinel_body)])

        async def sentinel_counted() -> bool:
            now = await area_count(client, metrics, "education", "referrals_created", tokens)
            return now == education_before + 1

        await eventually(sentinel_counted, what="the sentinel referral counted")
        found = await referrals_for_case(client, referral, event.case_id)
        assert sorted(r["service_area"] for r in found) == ["education", "health"]
        assert await area_count(client, metrics, "health", "requests_logged", tokens) == health_before + 1
        assert await area_count(client, metrics, "health", "referrals_created", tokens) == referrals_before + 1


async def test_malformed_message_is_dead_lettered_and_the_consumer_goes_on(
        services: dict[str, ServiceProcess], tokens: Tokens, infra: Infra, topics: TopicNames) -> None:
    referral = services["referral"].url
    dlq = AIOKafkaConsumer(topics.dlq(CASE_EVENTS), bootstrap_servers=infra.bootstrap_servers,
                           group_id=f"dlq-reader-{uuid.uuid4().hex}", auto_offset_reset="earliest")
    await dlq.start()
    try:
        malformed = b'{"event_type": "RequestLogged", "case_id": 42'
        valid = request_logged()
        await publish(infra, topics(CASE_EVENTS), [(b"bad-key", malformed),
                                                    (valid.case_id.encode(), valid.model_dump_json().encode())])
        async with httpx.AsyncClient(timeout=10, headers=tokens.staff) as client:
            found = await eventually(lambda: referrals_for_case(client, referral, valid.case_id),
                                     what="the valid message processed after the malformed one")
            assert len(found) == 1

        async def dead_letters() -> list[Any]:
            batch = await dlq.getmany(timeout_ms=500)
            return [r for records in batch.values() for r in records if r.value == malformed]

        records = await eventually(dead_letters, what="the malformed message in the DLQ")
        headers = dict(records[0].headers)
        assert headers["dlq-original-topic"] == topics(CASE_EVENTS).encode()
        assert b"invalid event" in headers["dlq-error"]
        # Both consumers of the topic (referral and metrics) dead-letter it, each naming its group.
        group = headers["dlq-consumer-group"].decode()
        assert group.startswith(topics.prefix) and (".referral." in group or ".metrics." in group)
    finally:
        await dlq.stop()


async def test_one_trace_follows_a_request_from_http_through_kafka_into_referral(
        services: dict[str, ServiceProcess], tokens: Tokens, infra: Infra, topics: TopicNames) -> None:
    trace_id = uuid.uuid4().hex
    traceparent = f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"
    async with httpx.AsyncClient(timeout=10, headers=tokens.staff) as client:
        response = await client.post(f"{services['intake'].url}/api/cases", json=case_payload("cadunico"),
                                     headers={"traceparent": traceparent})
        assert response.status_code == 201
        case_id = response.json()["case_id"]
        await eventually(lambda: referrals_for_case(client, services["referral"].url, case_id),
                         what="the referral")

    async def carries_trace(topic: str) -> list[Any]:
        records = await read_topic(infra, topic)
        return [r for r in records if trace_id.encode() in dict(r.headers).get("traceparent", b"")]

    case_events = await eventually(lambda: carries_trace(topics(CASE_EVENTS)), what="case events with the trace")
    assert {dict(r.headers)["event-type"] for r in case_events} == {b"CaseOpened", b"RequestLogged"}
    referral_events = await eventually(lambda: carries_trace(topics(REFERRAL_EVENTS)),
                                       what="referral events continuing the trace")
    assert dict(referral_events[0].headers)["event-type"] == b"ReferralCreated"


async def read_topic(infra: Infra, topic: str) -> list[Any]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=infra.bootstrap_servers, auto_offset_reset="earliest",
                                group_id=f"reader-{uuid.uuid4().hex}")
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=3000)
        return [r for records in batch.values() for r in records]
    finally:
        await consumer.stop()


async def test_the_sign_in_page_guards_the_desk_and_the_category_table_is_served(
        services: dict[str, ServiceProcess], tokens: Tokens) -> None:
    async with httpx.AsyncClient(timeout=10, headers=tokens.staff) as client:
        # The pages are for people who signed in (a bearer token is for the API): an anonymous browser is sent
        # to the sign-in page, which is served; the signed-in desk is driven by tests/e2e/test_desk_page.py.
        async with httpx.AsyncClient(timeout=10) as browser:
            page = await browser.get(f"{services['intake'].url}/")
            assert page.status_code == 303 and "/sign-in" in page.headers["location"]
            sign_in = await browser.get(page.headers["location"] if page.headers["location"].startswith("http")
                                        else f"{services['intake'].url}{page.headers['location']}")
            assert sign_in.status_code == 200 and 'name="password"' in sign_in.text
        categories = (await client.get(f"{services['intake'].url}/api/categories")).json()["categories"]
        assert {"code": "sus_card", "area": "health", "label_pt": "Cartão SUS"} in categories
        for service in services.values():
            ready = await client.get(f"{service.url}/health/ready")
            assert ready.status_code == 200, (service.name, ready.text)


async def test_staff_see_duplicate_candidates_and_link_instead_of_creating_a_twin(
        services: dict[str, ServiceProcess], tokens: Tokens) -> None:
    intake = services["intake"].url
    # A birth date no other test uses, so the only candidates are the ones this test registers.
    unique_birth = (date(1940, 1, 1) + timedelta(days=uuid.uuid4().int % 25000)).isoformat()
    person = {"full_name": "José da Silva", "birth_date": unique_birth, "nationality": "PRY",
              "documents": [{"type": "rnm", "number": "V123456-A"}]}
    async with httpx.AsyncClient(timeout=10, headers=tokens.staff) as client:
        first = (await client.post(f"{intake}/api/cases", json=case_payload(**person))).json()

        check = await client.post(f"{intake}/api/persons/duplicate-candidates", json={
            "full_name": "JOSE DA  SILVA", "birth_date": unique_birth, "nationality": "PRY"})
        assert check.status_code == 200, check.text
        [candidate] = [c for c in check.json()["candidates"] if c["person_id"] == first["person_id"]]
        assert candidate["strength"] == "probable"
        assert "same birth date" in candidate["reasons"]
        assert candidate["case_ids"] == [first["case_id"]]

        by_document = await client.post(f"{intake}/api/persons/duplicate-candidates",
                                         json={"full_name": "Outra Pessoa",
                                               "documents": [{"type": "rnm", "number": "v123456a"}]})
        assert [c["strength"] for c in by_document.json()["candidates"]] == ["strong"]

        visit = case_payload(**person)
        linked = await client.post(f"{intake}/api/cases", json={
            "requests": visit["requests"], "existing_person_id": first["person_id"]})
        assert linked.status_code == 201 and linked.json()["person_id"] == first["person_id"]
        record = (await client.get(f"{intake}/api/persons/{first['person_id']}")).json()
        assert record["case_ids"] == [first["case_id"], linked.json()["case_id"]]
        unknown = await client.post(f"{intake}/api/cases", json={
            "requests": visit["requests"], "existing_person_id": "no-such-person"})
        assert unknown.status_code == 404 and unknown.json()["field"] == "existing_person_id"


async def act(client: httpx.AsyncClient, url: str, referral_id: str, as_agency: dict[str, str],
              **body: Any) -> httpx.Response:
    return await client.post(f"{url}/api/referrals/{referral_id}/actions", json=body, headers=as_agency)


async def intake_sees_referral(client: httpx.AsyncClient, url: str, case_id: str, referral_id: str,
                               status: str) -> dict[str, Any] | None:
    """The referral as intake's case read shows it, once it is in `status` there (fed by referral's events)."""
    response = await client.get(f"{url}/api/cases/{case_id}")
    response.raise_for_status()
    return next((r for r in response.json()["referrals"] if r["referral_id"] == referral_id
                 and r["status"] == status), None)


async def indicator(client: httpx.AsyncClient, url: str, dimension: int, name: str, tokens: Tokens) -> Any:
    response = await client.get(f"{url}/api/metrics/indicators", headers=tokens.headers(Role.COORDINATOR))
    response.raise_for_status()
    periods = response.json()["periods"]
    return [p[str(dimension)][name] for p in periods.values()]


async def test_an_agency_takes_a_referral_through_its_closed_loop(
        services: dict[str, ServiceProcess], tokens: Tokens) -> None:
    intake, referral, metrics = services["intake"].url, services["referral"].url, services["metrics"].url
    async with httpx.AsyncClient(timeout=10, headers=tokens.staff) as client:
        created = (await client.post(f"{intake}/api/cases", json=case_payload("job_placement"))).json()
        [pending] = await eventually(lambda: referrals_for_case(client, referral, created["case_id"]),
                                     what="the work referral")
        rid = pending["referral_id"]
        agency = tokens.agency(pending["agency_id"])
        assert pending["allowed_actions"] == ["accept", "cancel", "decline", "unable_to_contact"]

        accepted = await act(client, referral, rid, agency, action="accept", expected_version=1)
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["status"] == "accepted" and accepted.json()["version"] == 2
        seen = await eventually(lambda: intake_sees_referral(client, intake, created["case_id"], rid, "accepted"),
                                what="the acceptance in intake's case read")
        assert (seen["request_id"], seen["agency_id"], seen["service_area"]) == (
            created["requests"][0]["request_id"], pending["agency_id"], pending["service_area"])

        stale = await act(client, referral, rid, agency, action="schedule", expected_version=1,
                          scheduled_for="2026-12-01T14:00:00-04:00")
        assert stale.status_code == 409 and stale.json()["field"] == "expected_version"
        illegal = await act(client, referral, rid, agency, action="attend")
        assert illegal.status_code == 422
        assert "cannot attend a referral that is accepted" in illegal.json()["message"]

        for step in ({"action": "schedule", "scheduled_for": "2026-12-01T14:00:00-04:00"}, {"action": "attend"},
                     {"action": "complete", "outcome": "got_help"}):
            response = await act(client, referral, rid, agency, **step)
            assert response.status_code == 200, response.text
        done = (await client.get(f"{referral}/api/referrals/{rid}")).json()
        assert done["status"] == "completed" and done["outcome"] == "got_help"
        assert [h["status"] for h in done["history"]] == ["pending", "accepted", "scheduled", "attended", "completed"]
        assert done["allowed_actions"] == ["reopen"]
        await eventually(lambda: intake_sees_referral(client, intake, created["case_id"], rid, "completed"),
                         what="the completion in intake's case read")

        async def completed_with_help() -> bool:
            shares = await indicator(client, metrics, 9, "completed_with_help_pct", tokens)
            return any(v is not None and v > 0 for v in shares)

        await eventually(completed_with_help, what="the completion in the labour market indicators")
        assert any(v is not None for v in await indicator(client, metrics, 9, "accepted_pct", tokens))


async def test_a_declined_referral_goes_to_the_next_agency(services: dict[str, ServiceProcess], tokens: Tokens) -> None:
    intake, referral = services["intake"].url, services["referral"].url
    async with httpx.AsyncClient(timeout=10, headers=tokens.staff) as client:
        created = (await client.post(f"{intake}/api/cases", json=case_payload("cadunico"))).json()
        [first] = await eventually(lambda: referrals_for_case(client, referral, created["case_id"]),
                                   what="the social assistance referral")
        agency = tokens.agency(first["agency_id"])
        no_reason = await act(client, referral, first["referral_id"], agency, action="decline")
        assert no_reason.status_code == 422 and "a decline needs its reason, one of: " in no_reason.json()["message"]
        bad_reason = await act(client, referral, first["referral_id"], agency, action="decline", reason="busy")
        assert bad_reason.status_code == 422 and bad_reason.json()["errors"][0]["field"] == "reason"
        declined = await act(client, referral, first["referral_id"], agency, action="decline", reason="no_capacity")
        assert declined.status_code == 200, declined.text

        async def rerouted() -> list[dict[str, Any]]:
            found = await referrals_for_case(client, referral, created["case_id"])
            return [r for r in found if r["routing_attempt"] == 2]

        [second] = await eventually(rerouted, what="the second routing attempt")
        assert second["agency_id"] != first["agency_id"]
        assert second["declined_by"] == [first["agency_id"]]
        assert second["status"] == "pending"


async def test_access_is_by_role_and_an_agency_sees_only_its_own_referrals(
        services: dict[str, ServiceProcess], tokens: Tokens) -> None:
    intake, referral, metrics = services["intake"].url, services["referral"].url, services["metrics"].url
    async with httpx.AsyncClient(timeout=10) as client:
        anonymous = await client.post(f"{intake}/api/cases", json=case_payload())
        assert anonymous.status_code == 401 and anonymous.json()["field"] == "Authorization"
        forged = await client.get(f"{referral}/api/referrals", headers={"Authorization": "Bearer not-a-token"})
        assert forged.status_code == 401

        created = (await client.post(f"{intake}/api/cases", json=case_payload("primary_care"),
                                     headers=tokens.staff)).json()
        [mine] = await eventually(lambda: _referrals(client, referral, created["case_id"], tokens.staff),
                                  what="the referral")
        owner, other = tokens.agency(mine["agency_id"]), tokens.agency("someone-else")

        assert (await client.get(f"{intake}/api/cases/{created['case_id']}", headers=owner)).status_code == 403
        inbox = (await client.get(f"{referral}/api/referrals", headers=owner)).json()["referrals"]
        assert inbox and {r["agency_id"] for r in inbox} == {mine["agency_id"]}
        assert (await client.get(f"{referral}/api/referrals", headers=other)).json()["referrals"] == []
        peeking = await client.get(f"{referral}/api/referrals", params={"agency_id": mine["agency_id"]},
                                   headers=other)
        assert peeking.status_code == 403
        stranger = await client.get(f"{referral}/api/referrals/{mine['referral_id']}", headers=other)
        assert stranger.status_code == 404  # another agency's referral does not exist for it
        meddling = await act(client, referral, mine["referral_id"], other, action="accept")
        assert meddling.status_code == 404

        coordinator = tokens.headers(Role.COORDINATOR, subject="coord")
        assert (await client.get(f"{metrics}/api/metrics/summary", headers=coordinator)).status_code == 200
        # The raw indicators keep small cells: the desk's staff read the published figures, not those.
        assert (await client.get(f"{metrics}/api/metrics/indicators", headers=coordinator)).status_code == 200
        assert (await client.get(f"{metrics}/api/metrics/indicators", headers=tokens.staff)).status_code == 403
        assert (await client.get(f"{referral}/api/referrals", headers=coordinator)).status_code == 403
        assert (await client.get(f"{metrics}/api/metrics/summary", headers=owner)).status_code == 403


async def _referrals(client: httpx.AsyncClient, url: str, case_id: str, headers: dict[str, str]) -> list[Any]:
    response = await client.get(f"{url}/api/referrals", params={"case_id": case_id}, headers=headers)
    return list(response.json()["referrals"])


async def test_the_serving_agency_can_reach_the_person_and_erasure_removes_them_everywhere(
        services: dict[str, ServiceProcess], tokens: Tokens, infra: Infra, stack_namespace: str,
        topics: TopicNames) -> None:
    intake, referral, metrics = services["intake"].url, services["referral"].url, services["metrics"].url
    async with httpx.AsyncClient(timeout=10, headers=tokens.staff) as client:
        initial = await area_count(client, metrics, "health", "requests_logged", tokens)
        shared = (await client.post(f"{intake}/api/cases", json=case_payload(
            "mental_health", full_name="Daniela Suárez", phone="+55 67 99999-0000"))).json()
        [ref] = await eventually(lambda: referrals_for_case(client, referral, shared["case_id"]), what="referral")
        agency = tokens.agency(ref["agency_id"])

        async def contact() -> Any:
            detail = (await client.get(f"{referral}/api/referrals/{ref['referral_id']}", headers=agency)).json()
            return detail["person"]

        person = await eventually(contact, what="the person's contact at the serving agency")
        # The desk keeps the phone in E.164, so the agency gets a number it can dial as it is.
        assert person["full_name"] == "Daniela Suárez" and person["phone"] == "+5567999990000"
        assert "documents" not in person  # the agency gets what it needs to reach them, not their papers

        private = (await client.post(f"{intake}/api/cases", json=case_payload(
            "mental_health", full_name="Sem Compartilhar",
            consent={"legal_basis": "consent", "share_with_partners": False, "recorded_by": "ana"}))).json()
        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(infra.mongodb_uri)
        try:
            doc = await mongo[f"{stack_namespace}_intake"]["cases"].find_one({"_id": private["case_id"]})
            assert doc is not None
            assert {e["topic"] for e in doc["outbox"]} == {"intake.case-events.v1"}  # no profile leaves intake
        finally:
            await mongo.close()

        async def both_counted() -> int | None:
            count = await area_count(client, metrics, "health", "requests_logged", tokens)
            return count if count == initial + 2 else None

        before = await eventually(both_counted, what="both health requests counted")
        admin = tokens.headers(Role.ADMIN, subject="dpo")
        erasure = {"reason": "Data subject's request under LGPD art. 18, VI"}
        by_staff = await client.request("DELETE", f"{intake}/api/persons/{shared['person_id']}", json=erasure)
        assert by_staff.status_code == 403  # only an administrator erases
        erased = await client.request("DELETE", f"{intake}/api/persons/{shared['person_id']}", json=erasure,
                                      headers=admin)
        assert erased.status_code == 200 and erased.json()["erased_from_cases"] == 1
        case = (await client.get(f"{intake}/api/cases/{shared['case_id']}")).json()
        assert case["person"]["erased"] is True and "full_name" not in case["person"]
        assert all(r["description"] is None for r in case["requests"])
        check = await client.post(f"{intake}/api/persons/duplicate-candidates",
                                  json={"full_name": "Daniela Suárez", "birth_date": "1990-05-04"})
        assert shared["person_id"] not in {c["person_id"] for c in check.json()["candidates"]}

        async def gone() -> bool:
            return await contact() is None

        await eventually(gone, what="the agency's copy erased")
        tombstones = [r for r in await read_topic(infra, topics(PERSON_PROFILES))
                      if r.key == shared["person_id"].encode() and r.value is None]
        assert tombstones, "no tombstone on the compacted profiles topic"
        # De-identified counts stay: erasure publishes nothing metrics reads, and nothing was subtracted.
        assert await area_count(client, metrics, "health", "requests_logged", tokens) == before
        mongo = AsyncMongoClient(infra.mongodb_uri)
        try:
            doc = await mongo[f"{stack_namespace}_intake"]["cases"].find_one({"_id": shared["case_id"]})
            assert doc is not None
            case_events = [e for e in doc["outbox"] if e["topic"] == "intake.case-events.v1"]
            assert [e["event_type"] for e in case_events] == ["CaseOpened", "RequestLogged"]
            record = await mongo[f"{stack_namespace}_intake"]["persons"].find_one({"_id": shared["person_id"]})
            assert record is not None and record["person"]["erased"] is True
            # Neither the case nor the person's record, not even in the outbox copies.
            assert "Daniela" not in str(doc) and "Daniela" not in str(record)
        finally:
            await mongo.close()
        again = await client.request("DELETE", f"{intake}/api/persons/{shared['person_id']}", json=erasure,
                                     headers=admin)
        assert again.status_code == 200
        unknown = await client.request("DELETE", f"{intake}/api/persons/{uuid.uuid4()}", json=erasure,
                                       headers=admin)
        assert unknown.status_code == 404 and unknown.json()["field"] == "person_id"


async def test_governance_activities_reach_the_dimension_indicators(
        services: dict[str, ServiceProcess], tokens: Tokens) -> None:
    intake, metrics = services["intake"].url, services["metrics"].url
    held_on = "2026-11-18"
    async with httpx.AsyncClient(timeout=10, headers=tokens.staff) as client:
        for activity in (
            {"kind": "training", "held_on": held_on, "topic": "Acolhimento e Lei de Migração",
             "servants_trained_by_sector": {"health": 15, "social_assistance": 9}},
            {"kind": "participation_event", "held_on": held_on, "event_kind": "cultural", "migrant_participants": 60},
            {"kind": "information_material", "held_on": held_on, "title": "Como tirar o Cartão SUS",
             "languages": ["es", "ht", "fr"]},
        ):
            response = await client.post(f"{intake}/api/activities", json=activity)
            assert response.status_code == 201, response.text
        bad = await client.post(f"{intake}/api/activities",
                                json={"kind": "training", "held_on": held_on, "topic": "x",
                                      "servants_trained_by_sector": {"health": -1}})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"].startswith("training.")
        agency = tokens.agency("sine-dourados")
        assert (await client.post(f"{intake}/api/activities", json={}, headers=agency)).status_code == 403

        async def dimensions() -> Any:
            periods = (await client.get(f"{metrics}/api/metrics/indicators", params={"period": "2026-11"},
                                        headers=tokens.headers(Role.COORDINATOR))).json()
            figures = periods["periods"].get("2026-11", {})
            ready = figures and figures["2"]["trainings_held"] >= 1 and figures["3"]["participation_events"] >= 1 \
                and figures["4"]["information_materials_by_language"].get("ht", 0) >= 1
            return figures if ready else None

        figures = await eventually(dimensions, what="the activities in dimensions 2 to 4")
        assert figures["2"]["servants_trained_by_sector"]["social_assistance"] >= 9
        assert figures["3"]["migrant_participants"] >= 60


async def test_the_governance_registers_corrections_reach_the_figures_through_kafka(
        services: dict[str, ServiceProcess], tokens: Tokens) -> None:
    intake, metrics = services["intake"].url, services["metrics"].url
    coordinator = tokens.headers(Role.COORDINATOR)
    # Months no other test writes to, so the figures are exactly this test's.
    async with httpx.AsyncClient(timeout=10, headers=coordinator) as client:
        agreement = (await client.post(f"{intake}/api/governance/instruments", json={
            "kind": "partnership_agreement", "title": "Acordo com a UFGD", "partner": "UFGD",
            "adopted_on": "2021-03-04"})).json()
        meeting = await client.post(f"{intake}/api/governance/activities", json={
            "kind": "network_meeting", "title": "Rede de acolhimento", "held_on": "2021-03-10", "participants": 12})
        assert meeting.status_code == 201, meeting.text
        document = b"%PDF-1.4\n" + bytes(range(256)) * 2000
        uploaded = await client.post(f"{intake}/api/governance/{agreement['record_id']}/attachments",
                                     files={"file": ("acordo.pdf", document, "application/pdf")})
        assert uploaded.status_code == 201, uploaded.text
        read_back = await client.get(f"{intake}/api/governance/{agreement['record_id']}/attachments/"
                                     f"{uploaded.json()['attachment_id']}")
        assert read_back.content == document

        async def figures(period: str) -> dict[str, Any]:
            periods = (await client.get(f"{metrics}/api/metrics/indicators", params={"period": period})).json()
            found: dict[str, Any] = periods["periods"].get(period, {})
            return found

        async def recorded() -> Any:
            march = await figures("2021-03")
            return march if march and march["5"]["partnership_agreements_in_force"] == 1 \
                and march["5"]["network_meetings"] == 1 else None

        march = await eventually(recorded, what="the agreement and the meeting in dimension 5")
        assert march["1"]["instruments_in_force"] == {}
        moved = await client.put(f"{intake}/api/governance/{meeting.json()['record_id']}", json={
            "revision": 1, "facts": {**meeting.json()["facts"], "held_on": "2021-04-01"}})
        assert moved.status_code == 200, moved.text
        withdrawn = await client.post(f"{intake}/api/governance/{agreement['record_id']}/withdraw",
                                      json={"revision": 1})
        assert withdrawn.status_code == 200, withdrawn.text

        async def corrected() -> Any:
            march, april = await figures("2021-03"), await figures("2021-04")
            done = march and april and march["5"]["network_meetings"] == 0 \
                and april["5"]["network_meetings"] == 1 and april["5"]["partnership_agreements_in_force"] == 0
            return (march, april) if done else None

        march, april = await eventually(corrected, what="the correction and the withdrawal in dimension 5")
        assert march["5"]["partnership_agreements_in_force"] == 0 and april["5"]["network_meetings"] == 1


# Last in the module: it stops and restarts the session's broker.
async def test_case_posted_while_kafka_is_down_arrives_once_after_it_returns(
        services: dict[str, ServiceProcess], tokens: Tokens, infra: Infra) -> None:
    if not isinstance(infra.kafka, LocalKafka):
        pytest.skip("the broker is run by someone else (KAFKA_BOOTSTRAP_SERVERS or a container); cannot stop it")
    intake, referral, metrics = services["intake"].url, services["referral"].url, services["metrics"].url
    async with httpx.AsyncClient(timeout=10, headers=tokens.staff) as client:
        before = await area_count(client, metrics, "protection", "requests_logged", tokens)
        infra.kafka.stop()
        try:
            response = await client.post(f"{intake}/api/cases", json=case_payload("gender_violence"))
            assert response.status_code == 201, response.text
            case_id = response.json()["case_id"]
            ready = await client.get(f"{intake}/health/ready")
            assert ready.status_code == 200  # the desk keeps working without Kafka
        finally:
            infra.kafka.start()

        found = await eventually(lambda: referrals_for_case(client, referral, case_id), timeout=120,
                                 what="the referral after Kafka returned")

        async def counted() -> bool:
            return await area_count(client, metrics, "protection", "requests_logged", tokens) == before + 1

        await eventually(counted, timeout=120, what="the protection count +1")
        assert len(found) == 1
        assert len(await referrals_for_case(client, referral, case_id)) == 1
        assert await area_count(client, metrics, "protection", "requests_logged", tokens) == before + 1
