"""OpenTelemetry: one tracer provider per service; W3C trace context travels in Kafka headers."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

_configured = False


def configure_tracing(service: str) -> trace.Tracer:
    """Set the global tracer provider once. Spans are exported only when an exporter is configured:
    OTEL_TRACES_EXPORTER=otlp sends them to the collector at OTEL_EXPORTER_OTLP_ENDPOINT (OTLP over HTTP, the
    deployments' way; the exporter reads the standard OTEL_EXPORTER_OTLP_* variables), =console prints them;
    without one, tracing costs little."""
    global _configured
    if not _configured:
        provider = TracerProvider(resource=Resource.create({"service.name": f"migradesk-{service}"}))
        exporter = os.environ.get("OTEL_TRACES_EXPORTER", "").lower()
        if exporter == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        elif exporter == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
        _configured = True
    return trace.get_tracer(f"migradesk.{service}")


def current_trace_headers() -> dict[str, str]:
    """The current context as W3C headers (traceparent/tracestate), to store with an outbox event."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def context_from_kafka_headers(headers: Iterable[tuple[str, bytes]] | None) -> Context:
    carrier: Mapping[str, str] = {k: v.decode("latin-1") for k, v in (headers or ()) if v is not None}
    return propagate.extract(carrier)


# OpenTelemetry keeps at most 128 links per span by default.
MAX_LINKS = 128


def links_to(headers_of_messages: Iterable[Iterable[tuple[str, bytes]] | None]) -> list[trace.Link]:
    """Links to the traces the messages of a batch carry: a batch span has many parents, which OpenTelemetry
    models as links, so each message's trace (from the desk's request on) still reaches the batch that applied
    it. One link per distinct trace, at most MAX_LINKS."""
    links: dict[int, trace.Link] = {}
    for headers in headers_of_messages:
        span_context = trace.get_current_span(context_from_kafka_headers(headers)).get_span_context()
        if span_context.is_valid and span_context.trace_id not in links:
            links[span_context.trace_id] = trace.Link(span_context)
            if len(links) == MAX_LINKS:
                break
    return list(links.values())
