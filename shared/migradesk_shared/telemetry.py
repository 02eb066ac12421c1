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
    """Set the global tracer provider once. Spans are exported only when an exporter is configured
    (OTEL_TRACES_EXPORTER=console here; an OTLP collector in deployments), so tracing costs little otherwise."""
    global _configured
    if not _configured:
        provider = TracerProvider(resource=Resource.create({"service.name": f"migradesk-{service}"}))
        if os.environ.get("OTEL_TRACES_EXPORTER", "").lower() == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
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
