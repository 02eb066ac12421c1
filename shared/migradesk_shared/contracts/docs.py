"""Generated documentation of the contracts: JSON Schema per topic and an AsyncAPI document per service.

The committed copies live in docs/contracts/; a test regenerates them and fails when they differ, so a model
change cannot ship without its published schema.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

from migradesk_shared.contracts.registry import TOPIC_CONTRACTS, TOPIC_TYPES
from migradesk_shared.topics import TopicSpec, dlq_of


def json_schemas() -> dict[str, dict[str, Any]]:
    """{'<topic>.schema.json': JSON Schema of what the topic carries}."""
    return {f"{topic}.schema.json": adapter.json_schema(mode="serialization")
            for topic, adapter in sorted(TOPIC_CONTRACTS.items())}


# An AsyncAPI 3.0 Message Example: {"name", "summary", "payload", "headers"?}.
Example = dict[str, Any]


def asyncapi_document(service: str, *, subscribes: Sequence[TopicSpec], publishes: Sequence[TopicSpec],
                      version: str = "1", examples: Mapping[str, Sequence[Example]] | None = None) -> dict[str, Any]:
    """The service's AsyncAPI document; `examples` (topic name -> Message Examples) are added to the messages of
    that topic's channel (a dead-letter topic's too)."""
    broker = KafkaBroker("kafka:9092", description="MigraDesk Kafka cluster")
    for spec in subscribes:
        model = TOPIC_TYPES[spec.name]

        async def handle(event: Any) -> None:  # documentation only
            return None

        handle.__name__ = f"consume_{spec.name}"
        # The type itself, not the name `model`: a name is looked up when the schema is built, after the loop,
        # and every subscriber would then be documented with the last topic's type.
        handle.__annotations__["event"] = model
        broker.subscriber(spec.name, group_id=service, title=f"{service}:{spec.name}",
                          description=("restricted: personal data" if spec.restricted else "de-identified"))(handle)
        broker.publisher(dlq_of(spec).name, title=f"{service}:{dlq_of(spec).name}",
                         description="messages that could not be processed, with the error in headers")
    for spec in publishes:
        broker.publisher(spec.name, title=f"{service}:{spec.name}", schema=TOPIC_TYPES[spec.name],
                         description=("restricted: personal data" if spec.restricted else "de-identified"))
    spec_doc = AsyncAPI(broker, title=f"MigraDesk {service}", version=version, schema_version="3.0.0")
    document: dict[str, Any] = json.loads(spec_doc.to_specification().to_json())
    _add_examples(document, examples or {})
    return document


def _add_examples(document: dict[str, Any], examples: Mapping[str, Sequence[Example]]) -> None:
    messages = document.get("components", {}).get("messages", {})
    used: set[str] = set()
    for channel in document.get("channels", {}).values():
        wanted = examples.get(channel["address"])
        if not wanted:
            continue
        for ref in channel.get("messages", {}).values():
            messages[ref["$ref"].rsplit("/", 1)[-1]]["examples"] = [dict(e) for e in wanted]
        used.add(channel["address"])
    if set(examples) - used:
        raise ValueError(f"examples for topics the document has no channel of: {sorted(set(examples) - used)}")


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
