"""One trace follows a case from the desk through Kafka into referral and metrics: the three services export
their spans over OTLP (to a collector this test runs), a request posted with a known trace context comes back
as intake's server span in that trace, and as referral's and metrics' consumer spans in it or, for a batch that
applied it, linked to it. No exported span carries the person's name."""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from infra.local.process import free_port
from infra.local.services import new_namespace, running_services
from infra.local.stack import Infra
from migradesk_shared.auth import Role, issue_token
from tests.support.polling import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.infra, pytest.mark.slow]

CANARY = "Traçável Canário Wesnerline"


@dataclass(frozen=True)
class ExportedSpan:
    service: str
    name: str
    kind: int
    trace_id: str
    linked_traces: frozenset[str]


class Collector:
    """An OTLP/HTTP trace receiver: what the services export, decoded, and the raw bytes it came as."""

    def __init__(self) -> None:
        self.spans: list[ExportedSpan] = []
        self.raw = bytearray()
        self._lock = threading.Lock()

    def receive(self, body: bytes) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        with self._lock:
            self.raw += body
            for resource_spans in request.resource_spans:
                service = next((a.value.string_value for a in resource_spans.resource.attributes
                                if a.key == "service.name"), "")
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        self.spans.append(ExportedSpan(service, span.name, span.kind, span.trace_id.hex(),
                                                       frozenset(link.trace_id.hex() for link in span.links)))


@pytest.fixture
def collector() -> Iterator[tuple[Collector, int]]:
    received = Collector()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.receive(self.rfile.read(int(self.headers.get("content-length", "0"))))
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield received, port
    finally:
        server.shutdown()


async def test_one_trace_follows_a_case_through_kafka_batches_included(
        infra: Infra, collector: tuple[Collector, int]) -> None:
    received, port = collector
    secret = secrets.token_urlsafe(32)
    otlp = {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
            "OTEL_BSP_SCHEDULE_DELAY": "200"}
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    with running_services(infra, new_namespace("trace"), secret, extra_env=otlp) as services:
        staff = {"Authorization": f"Bearer {issue_token(secret, subject='ana', role=Role.STAFF)}",
                 "traceparent": f"00-{trace_id}-{parent}-01"}
        async with httpx.AsyncClient(timeout=10) as client:
            posted = await client.post(f"{services['intake'].url}/api/cases", headers=staff, json={
                "person": {"full_name": CANARY, "birth_date": "1990-05-04", "sex": "female", "nationality": "HTI",
                           "preferred_language": "ht", "migratory_status": "acolhida_humanitaria",
                           "consent": {"legal_basis": "consent", "share_with_partners": True,
                                       "recorded_by": "ana"}},
                "requests": [{"category": "sus_card"}]})
            assert posted.status_code == 201, posted.text

        def reached(span: ExportedSpan, service: str) -> bool:
            return span.service == f"migradesk-{service}" and span.kind == 5 and (  # 5: CONSUMER
                span.trace_id == trace_id or trace_id in span.linked_traces)

        async def followed() -> dict[str, list[ExportedSpan]] | None:
            spans = list(received.spans)
            found = {"intake": [s for s in spans if s.service == "migradesk-intake" and s.trace_id == trace_id
                                and s.kind == 2],  # 2: SERVER
                     "referral": [s for s in spans if reached(s, "referral")],
                     "metrics": [s for s in spans if reached(s, "metrics")]}
            return found if all(found.values()) else None

        found = await eventually(followed, what="the case's trace in the three services' exported spans")
    assert any(s.name.endswith("process batch") for s in found["metrics"]) or all(
        s.trace_id == trace_id for s in found["metrics"])
    await asyncio.sleep(0)
    assert CANARY.encode() not in received.raw and b"Wesnerline" not in received.raw
