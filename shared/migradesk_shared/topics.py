"""The one list of Kafka topics. Every producer, consumer, test and the topic creator read it from here."""

from __future__ import annotations

from dataclasses import dataclass

from migradesk_shared.contracts.vocabulary import ServiceArea


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = 3
    compacted: bool = False
    # Restricted topics carry personal data: only intake and referral may read them (ACLs in deploy/).
    restricted: bool = False
    # How long messages are kept; -1: for ever (the event log metrics can be rebuilt from).
    retention_ms: int = -1


CASE_EVENTS = TopicSpec("intake.case-events.v1")
PERSON_PROFILES = TopicSpec("intake.person-profiles.v1", compacted=True, restricted=True)
ACTIVITIES = TopicSpec("intake.activities.v1")
REFERRAL_EVENTS = TopicSpec("referral.referral-events.v1")
# Partner responses may carry a comment about the person, so they are restricted too.
PARTNER_RESPONSES = TopicSpec("referral.partner-responses.v1", restricted=True)
DISPATCH = {area: TopicSpec(f"referral.dispatch.{area.value}.v1", restricted=True) for area in ServiceArea}

ALL_TOPICS: tuple[TopicSpec, ...] = (
    CASE_EVENTS, PERSON_PROFILES, ACTIVITIES, REFERRAL_EVENTS, PARTNER_RESPONSES, *DISPATCH.values(),
)


# A dead letter of a restricted topic holds a person's data, which an erasure cannot reach inside a topic: it is
# kept 30 days, time for an operator to replay or discard it (the DLQ growth alert fires within the hour).
# Dead letters of de-identified events are kept as long as the events themselves.
RESTRICTED_DLQ_RETENTION_MS = 30 * 24 * 3600 * 1000


def dlq_of(spec: TopicSpec) -> TopicSpec:
    return TopicSpec(f"{spec.name}.dlq", partitions=1, restricted=spec.restricted,
                     retention_ms=RESTRICTED_DLQ_RETENTION_MS if spec.restricted else -1)


def all_topic_specs() -> tuple[TopicSpec, ...]:
    """Every topic including its dead-letter topic, in creation order."""
    return tuple(s for spec in ALL_TOPICS for s in (spec, dlq_of(spec)))


@dataclass(frozen=True)
class TopicNames:
    """Topic names under a deployment prefix, so tests (and staging) can share a broker without crosstalk."""

    prefix: str = ""

    def __call__(self, spec: TopicSpec) -> str:
        return f"{self.prefix}{spec.name}"

    def dlq(self, spec: TopicSpec) -> str:
        return self(dlq_of(spec))
