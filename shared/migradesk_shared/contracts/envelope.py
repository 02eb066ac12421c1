"""The envelope every event carries: identity, type, version, time, producer and causality."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr


def new_id() -> str:
    return str(uuid.uuid4())


def utc_now() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """Base of every event. Subclasses pin `event_type` and `schema_version` with Literal types."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str = Field(default_factory=new_id, min_length=1, max_length=64)
    event_type: str
    schema_version: int
    occurred_at: datetime = Field(default_factory=utc_now)
    producer: str = Field(min_length=1, max_length=64)
    # The id that ties together everything caused by one staff action (usually the case id's first event).
    correlation_id: str | None = Field(default=None, max_length=64)
    # The event_id of the event that caused this one, if any.
    causation_id: str | None = Field(default=None, max_length=64)

    # The W3C trace context (traceparent/tracestate) the event belongs to; not part of the payload, it travels
    # in Kafka headers. Set on an event read from Kafka, and passed on to the events it causes, so a trace
    # follows a case through consumers that handle a whole batch at once.
    _trace_headers: dict[str, str] = PrivateAttr(default_factory=dict)

    @property
    def trace_headers(self) -> dict[str, str]:
        return dict(self._trace_headers)

    def in_trace(self, headers: dict[str, str]) -> Event:
        """This event, continuing the trace given by `headers` (the event that caused it, usually)."""
        self._trace_headers = dict(headers)
        return self

    def partition_key(self) -> str:
        raise NotImplementedError
