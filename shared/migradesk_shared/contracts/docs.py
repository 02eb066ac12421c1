"""Generated documentation of the contracts: JSON Schema per topic and an AsyncAPI document per service.

The committed copies live in docs/contracts/; a test regenerates them and fails when they differ, so a model
change cannot ship without its published schema.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

from migradesk_shared.contracts.registry import TOPIC_CONTRACTS, TOPIC_TYPES
from migradesk_shared.topics import TopicSpec, dlq_of


def json_schemas() -> dict[str, dict[str, Any]]:
    """{'<topic>.schema.json': JSON Schema of what the topic carries}."""
    return {f"{topic}.schema.json": adapter.json_schema(mode="serialization")
            for topic, adapter in sorted(TOPIC_CONTRACTS.items())}


def asyncapi_document(service: str, *, subscribes: Sequence[TopicSpec], publishes: Sequence[TopicSpec],
                      version: str = "1") -> dict[str, Any]:
    broker = KafkaBroker("kafka:9092", description="MigraDesk Kafka cluster")
    for spec in subscribes:
        model = TOPIC_TYPES[spec.name]

        async def handle(event: model) -> None:  # type: ignore[valid-type]  # documentation only
            return None

        handle.__name__ = f"consume_{spec.name}"
        broker.subscriber(spec.name, group_id=service, title=f"{service}:{spec.name}",
                          description=("restricted: personal data" if spec.restricted else "de-identified"))(handle)
        broker.publisher(dlq_of(spec).name, title=f"{service}:{dlq_of(spec).name}",
                         description="messages that could not be processed, with the error in headers")
    for spec in publishes:
        broker.publisher(spec.name, title=f"{service}:{spec.name}", schema=TOPIC_TYPES[spec.name],
                         description=("restricted: personal data" if spec.restricted else "de-identified"))
    spec_doc = AsyncAPI(broker, title=f"MigraDesk {service}", version=version, schema_version="3.0.0")
    return json.loads(spec_doc.to_specification().to_json())


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
