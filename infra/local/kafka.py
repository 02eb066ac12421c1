"""The Kafka broker: its jars, fetched once by Maven from infra/kafka/pom.xml, and a single-node KRaft broker
(broker and controller in one JVM) on loopback."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from infra.local.paths import INFRA_DIR, LOCAL_DIR, LOG_DIR, RUN_DIR
from infra.local.process import (
    InfraError,
    alive,
    digest,
    log,
    port_open,
    reap_stale,
    require_tool,
    run_logged,
    spawn,
    terminate,
    wait_for,
)

KAFKA_LIBS = LOCAL_DIR / "kafka" / "libs"
KAFKA_POM = INFRA_DIR / "kafka" / "pom.xml"

LOG4J2_CONFIG = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.apache.name = org.apache
logger.apache.level = WARN
"""


def ensure_kafka_jars() -> Path:
    """Fetch the broker jars once; a stamp of the pom's hash makes a second call free."""
    stamp = KAFKA_LIBS / ".pom.sha256"
    wanted = digest(KAFKA_POM)
    if stamp.exists() and stamp.read_text() == wanted and any(KAFKA_LIBS.glob("kafka_2.13-*.jar")):
        return KAFKA_LIBS
    require_tool("java", "run the Kafka broker (Java 17 or newer)")
    mvn = require_tool("mvn", "fetch the Kafka broker jars from Maven Central")
    log("fetching Apache Kafka broker jars with Maven (once)...")
    if KAFKA_LIBS.exists():
        shutil.rmtree(KAFKA_LIBS)
    KAFKA_LIBS.mkdir(parents=True)
    run_logged([mvn, "-B", "-q", "-f", str(KAFKA_POM), "dependency:copy-dependencies",
                "-DincludeScope=runtime", f"-DoutputDirectory={KAFKA_LIBS}"], "maven.log")
    stamp.write_text(wanted)
    return KAFKA_LIBS


@dataclass
class LocalKafka:
    """A single-node KRaft broker (broker and controller in one process) on loopback."""

    name: str = "kafka"
    port: int = 9092
    controller_port: int = 9093
    home: Path = field(default_factory=lambda: RUN_DIR / "kafka")
    heap: str = "512m"
    process: subprocess.Popen | None = None  # type: ignore[type-arg]

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return self.bootstrap_servers

    @property
    def log_path(self) -> Path:
        return self.home / "logs" / "server.log"

    def _properties(self) -> str:
        data = self.home / "data"
        return "\n".join([
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.bootstrap.servers=127.0.0.1:{self.controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            f"log.dirs={data}",
            "num.partitions=3",
            # Topics are created explicitly from the list in shared/; a typo must fail, not create a topic.
            "auto.create.topics.enable=false",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "min.insync.replicas=1",
            "group.initial.rebalance.delay.ms=0",
            "log.retention.hours=-1",
            "",
        ])

    def _java(self, *args: str, heap: str | None = None) -> list[str]:
        java = require_tool("java", "run the Kafka broker (Java 17 or newer)")
        cmd = [java]
        if heap:
            cmd += [f"-Xms{heap}", f"-Xmx{heap}"]
        cmd += [f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
                f"-Dkafka.logs.dir={self.home / 'logs'}", "-cp", f"{KAFKA_LIBS}/*", *args]
        return cmd

    def start(self, timeout: float = 90.0) -> None:
        ensure_kafka_jars()
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        props = self.home / "server.properties"
        props.write_text(self._properties())
        (self.home / "log4j2.properties").write_text(LOG4J2_CONFIG)
        if not (self.home / "data" / "meta.properties").exists():
            cluster_id = subprocess.run(self._java("kafka.tools.StorageTool", "random-uuid"),
                                        capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            run_logged(self._java("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props),
                                  "--standalone"), "kafka-format.log")
        reap_stale(self.name)
        if port_open("127.0.0.1", self.port):
            raise InfraError(f"port {self.port} is already in use; stop whatever listens there or choose another")
        self.process = spawn(self.name, self._java("kafka.Kafka", str(props), heap=self.heap),
                             LOG_DIR / f"{self.name}.stdout.log")
        started_marker = "Kafka Server started"
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0

        def ready() -> bool:
            if not self.log_path.exists():
                return False
            with self.log_path.open("rb") as fh:
                fh.seek(offset)
                return started_marker.encode() in fh.read()

        wait_for(ready, "Kafka broker", timeout, self.process, self.log_path)
        log(f"Kafka broker ready on {self.bootstrap_servers} (log {self.log_path})")

    def stop(self, timeout: float = 60.0) -> None:
        terminate(self.process, timeout, self.name)
        self.process = None

    def healthy(self) -> bool:
        """The JVM runs and the client listener accepts connections."""
        return alive(self.process) and port_open("127.0.0.1", self.port)
