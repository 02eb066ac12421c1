"""The stack's two dependencies, chosen and started together. Order of preference:

  Kafka: KAFKA_BOOTSTRAP_SERVERS from the environment > a Docker engine (testcontainers) > a local KRaft broker
         run from the Apache Kafka jars that Maven fetches into .local/.
  Store: MONGODB_URI from the environment > a `mongod` on PATH > a Docker engine (testcontainers) > FerretDB v1
         (SQLite backend) built from the Go module proxy through infra/ferretdb/main.go.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass

from infra.local.component import External
from infra.local.kafka import LocalKafka, ensure_kafka_jars
from infra.local.paths import RUN_DIR
from infra.local.process import free_port
from infra.local.store import LocalFerretDB, LocalMongod, ensure_ferretdb_binary


def docker_engine_answers() -> bool:
    # `docker` may be installed as a client with no engine behind it, so only a ping proves an engine.
    try:
        import docker  # type: ignore[import-not-found]

        return bool(docker.from_env().ping())
    except Exception:
        return False


@dataclass
class Infra:
    """The broker and the store of one run."""

    kafka: LocalKafka | External
    store: LocalFerretDB | LocalMongod | External

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka.address

    @property
    def mongodb_uri(self) -> str:
        return self.store.address

    def healthy(self) -> bool:
        return self.kafka.healthy() and self.store.healthy()

    def stop(self) -> None:
        for component in (self.kafka, self.store):
            with contextlib.suppress(Exception):
                component.stop()


def _choose_kafka(kafka_port: int | None, run_name: str) -> tuple[LocalKafka | External, bool | None]:
    """The broker to use, and whether a Docker engine answered (None: not asked)."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return External("kafka", os.environ["KAFKA_BOOTSTRAP_SERVERS"]), None
    docker = docker_engine_answers()
    if docker:
        from testcontainers.kafka import KafkaContainer  # type: ignore[import-not-found]

        container = KafkaContainer().start()
        return External("kafka", container.get_bootstrap_server(), container), docker
    return LocalKafka(port=kafka_port or 9092, controller_port=free_port() if kafka_port else 9093,
                      home=RUN_DIR / run_name / "kafka", name=f"kafka-{run_name}"), docker


def _choose_store(store_port: int | None, run_name: str,
                  docker: bool | None) -> LocalFerretDB | LocalMongod | External:
    if os.environ.get("MONGODB_URI"):
        return External("store", os.environ["MONGODB_URI"])
    if shutil.which("mongod"):
        return LocalMongod(port=store_port or 27017, home=RUN_DIR / run_name / "mongod", name=f"mongod-{run_name}")
    if docker is None:  # checked lazily: a ping costs a second when no engine runs
        docker = docker_engine_answers()
    if docker:
        from testcontainers.mongodb import MongoDbContainer  # type: ignore[import-not-found]

        container = MongoDbContainer().start()
        return External("store", container.get_connection_url(), container)
    return LocalFerretDB(port=store_port or 27017, home=RUN_DIR / run_name / "ferretdb",
                         name=f"ferretdb-{run_name}")


def start_infra(kafka_port: int | None = None, store_port: int | None = None, run_name: str = "dev") -> Infra:
    """Start (or find) Kafka and the store. Ports default to the well-known ones; tests pass free ports."""
    kafka, docker = _choose_kafka(kafka_port, run_name)
    try:
        store = _choose_store(store_port, run_name, docker)
    except BaseException:
        with contextlib.suppress(Exception):
            kafka.stop()  # a container started for the broker
        raise
    infra = Infra(kafka, store)
    try:
        # Build/fetch both before starting either, so a missing tool is reported before anything runs.
        if isinstance(kafka, LocalKafka):
            ensure_kafka_jars()
        if isinstance(store, LocalFerretDB):
            ensure_ferretdb_binary()
        if not isinstance(store, External):
            store.start()
        if isinstance(kafka, LocalKafka):
            kafka.start()
    except BaseException:
        infra.stop()
        raise
    return infra


def prepare() -> None:
    """Download and build everything once, start nothing (used by CI before the tests)."""
    if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        ensure_kafka_jars()
    if not os.environ.get("MONGODB_URI") and not shutil.which("mongod"):
        ensure_ferretdb_binary()
