"""Local infrastructure for MigraDesk: a real Kafka broker and a MongoDB-compatible store, plus the services.

Used by `make run`, by the tests and by CI. Order of preference for each dependency:
  Kafka: KAFKA_BOOTSTRAP_SERVERS from the environment > a Docker engine (testcontainers) > a local KRaft broker
         run from the Apache Kafka jars that Maven fetches into .local/.
  Store: MONGODB_URI from the environment > a `mongod` on PATH > a Docker engine (testcontainers) > FerretDB v1
         (SQLite backend) built from the Go module proxy through infra/ferretdb/main.go.
Everything downloaded or built is kept under .local/ and reused on the next start; each component logs to
.local/logs/<name>.log.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from infra.local.ferretdb_build import FerretDBBuildError, ensure_ferretdb, ferretdb_stamp

REPO_ROOT = Path(__file__).resolve().parent.parent
INFRA_DIR = REPO_ROOT / "infra"
LOCAL_DIR = Path(os.environ.get("MIGRADESK_LOCAL_DIR", REPO_ROOT / ".local"))
LOG_DIR = LOCAL_DIR / "logs"
PID_DIR = LOCAL_DIR / "pids"

SERVICE_PORTS = {"intake": 8001, "referral": 8002, "metrics": 8003}


class InfraError(RuntimeError):
    """A dependency is missing or a component failed to start; the message says what to do."""


def log(message: str) -> None:
    print(f"[migradesk] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_tool(name: str, why: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise InfraError(f"`{name}` is not on PATH; it is needed to {why}. Install it, or set the environment "
                         "variable that points at an existing service (see README.md).")
    return path


def _digest(*paths: Path) -> str:
    sha = hashlib.sha256()
    for path in paths:
        sha.update(path.read_bytes())
    return sha.hexdigest()


def _run_logged(cmd: Sequence[str], log_name: str, cwd: Path | None = None,
                env: dict[str, str] | None = None) -> None:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / log_name
    with log_path.open("ab") as out:
        result = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise InfraError(f"`{' '.join(cmd)}` failed with exit code {result.returncode}; see {log_path}:\n{tail}")


def _wait(predicate, what: str, timeout: float, process: subprocess.Popen | None = None,  # type: ignore[type-arg]
          log_path: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:] if log_path and log_path.exists() else ""
            raise InfraError(f"{what} exited with code {process.returncode} while starting; log {log_path}:\n{tail}")
        if predicate():
            return
        time.sleep(0.2)
    raise InfraError(f"{what} was not ready after {timeout:.0f}s; see {log_path}")


def reap_stale(name: str, timeout: float = 30.0) -> None:
    """Stop what a previous run left behind under this name (a launcher killed without cleaning up), so a
    second start neither finds its ports taken nor runs two brokers on one data directory."""
    pidfile = PID_DIR / f"{name}.pid"
    if not pidfile.exists():
        return
    pid = int(pidfile.read_text().strip() or 0)
    pidfile.unlink()
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return  # long gone
    if str(LOCAL_DIR).encode() not in cmdline and b"migradesk_" not in cmdline:
        return  # the pid was reused by something that is not ours
    log(f"stopping {name} (pid {pid}) left over from an earlier run")
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def spawn(name: str, cmd: Sequence[str], out_path: Path, *, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> subprocess.Popen:  # type: ignore[type-arg]
    """Start a long-running component in its own session, output to a log file, pid remembered by name."""
    reap_stale(name)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    PID_DIR.mkdir(parents=True, exist_ok=True)
    with out_path.open("ab") as out:
        process = subprocess.Popen(list(cmd), stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                   env=env, cwd=cwd)
    (PID_DIR / f"{name}.pid").write_text(str(process.pid))
    return process


# ---------------------------------------------------------------------------------------------------------------
# Kafka
# ---------------------------------------------------------------------------------------------------------------

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
    wanted = _digest(KAFKA_POM)
    if stamp.exists() and stamp.read_text() == wanted and any(KAFKA_LIBS.glob("kafka_2.13-*.jar")):
        return KAFKA_LIBS
    require_tool("java", "run the Kafka broker (Java 17 or newer)")
    mvn = require_tool("mvn", "fetch the Kafka broker jars from Maven Central")
    log("fetching Apache Kafka broker jars with Maven (once)...")
    if KAFKA_LIBS.exists():
        shutil.rmtree(KAFKA_LIBS)
    KAFKA_LIBS.mkdir(parents=True)
    _run_logged([mvn, "-B", "-q", "-f", str(KAFKA_POM), "dependency:copy-dependencies",
                 "-DincludeScope=runtime", f"-DoutputDirectory={KAFKA_LIBS}"], "maven.log")
    stamp.write_text(wanted)
    return KAFKA_LIBS


@dataclass
class LocalKafka:
    """A single-node KRaft broker (broker and controller in one process) on loopback."""

    name: str = "kafka"
    port: int = 9092
    controller_port: int = 9093
    home: Path = field(default_factory=lambda: LOCAL_DIR / "run" / "kafka")
    heap: str = "512m"
    process: subprocess.Popen | None = None  # type: ignore[type-arg]

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

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
            _run_logged(self._java("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props),
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

        _wait(ready, "Kafka broker", timeout, self.process, self.log_path)
        log(f"Kafka broker ready on {self.bootstrap_servers} (log {self.log_path})")

    def stop(self, timeout: float = 60.0) -> None:
        _terminate(self.process, timeout, self.name)
        self.process = None


def _terminate(process: subprocess.Popen | None, timeout: float, name: str) -> None:  # type: ignore[type-arg]
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    # Only once it is gone: an interrupted clean-up leaves the pid file for the next start to reap.
    (PID_DIR / f"{name}.pid").unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------------------------
# MongoDB-compatible store
# ---------------------------------------------------------------------------------------------------------------

FERRETDB_SRC = INFRA_DIR / "ferretdb"
FERRETDB_BIN = LOCAL_DIR / "bin" / "ferretdb-local"


def ensure_ferretdb_binary() -> Path:
    """FerretDB with infra/ferretdb/patches applied (infra/local/ferretdb_build.py), rebuilt only when main.go,
    go.mod, go.sum or a patch changed."""
    stamp = FERRETDB_BIN.with_suffix(".sha256")
    wanted = ferretdb_stamp(patched=True)
    if FERRETDB_BIN.exists() and stamp.exists() and stamp.read_text() == wanted:
        return FERRETDB_BIN
    require_tool("go", "build FerretDB, the MongoDB-compatible store (Go 1.24 or newer)")
    require_tool("patch", "apply infra/ferretdb/patches to FerretDB's source")
    log("building FerretDB v1 with the patches in infra/ferretdb/patches (once, a few minutes)...")
    try:
        # rechecks the stamp under a file lock: another process may have built it meanwhile
        ensure_ferretdb(FERRETDB_BIN, patched=True, log_dir=LOG_DIR, build_root=LOCAL_DIR / "build")
    except FerretDBBuildError as exc:
        raise InfraError(str(exc)) from exc
    return FERRETDB_BIN


@dataclass
class LocalFerretDB:
    name: str = "ferretdb"
    port: int = 27017
    home: Path = field(default_factory=lambda: LOCAL_DIR / "run" / "ferretdb")
    process: subprocess.Popen | None = None  # type: ignore[type-arg]

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    @property
    def log_path(self) -> Path:
        return LOG_DIR / f"{self.name}.log"

    def start(self, timeout: float = 60.0) -> None:
        binary = ensure_ferretdb_binary()
        data = self.home / "data"
        data.mkdir(parents=True, exist_ok=True)
        reap_stale(self.name)
        if port_open("127.0.0.1", self.port):
            raise InfraError(f"port {self.port} is already in use; stop whatever listens there or choose another")
        self.process = spawn(self.name, [str(binary), f"--listen-addr=127.0.0.1:{self.port}", f"--sqlite-dir={data}"],
                             self.log_path, env={**os.environ, "DO_NOT_TRACK": "1"})
        _wait(lambda: port_open("127.0.0.1", self.port), "FerretDB", timeout, self.process, self.log_path)
        log(f"FerretDB ready on {self.uri} (log {self.log_path})")

    def stop(self, timeout: float = 30.0) -> None:
        _terminate(self.process, timeout, self.name)
        self.process = None


@dataclass
class LocalMongod:
    """A real MongoDB server, when one happens to be installed."""

    name: str = "mongod"
    port: int = 27017
    home: Path = field(default_factory=lambda: LOCAL_DIR / "run" / "mongod")
    process: subprocess.Popen | None = None  # type: ignore[type-arg]

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 60.0) -> None:
        (self.home / "data").mkdir(parents=True, exist_ok=True)
        log_path = LOG_DIR / f"{self.name}.log"
        self.process = spawn(self.name, ["mongod", "--bind_ip", "127.0.0.1", "--port", str(self.port),
                                         "--dbpath", str(self.home / "data")], log_path)
        _wait(lambda: port_open("127.0.0.1", self.port), "mongod", timeout, self.process, log_path)

    def stop(self, timeout: float = 30.0) -> None:
        _terminate(self.process, timeout, self.name)
        self.process = None


def docker_engine_answers() -> bool:
    # `docker` may be installed as a client with no engine behind it, so only a ping proves an engine.
    try:
        import docker  # type: ignore[import-not-found]

        return bool(docker.from_env().ping())
    except Exception:
        return False


@dataclass
class External:
    """A dependency someone else runs (environment variable or testcontainers); never stopped by us."""

    name: str
    address: str
    container: object | None = None
    can_restart: bool = False

    def stop(self, timeout: float = 30.0) -> None:
        if self.container is not None:
            self.container.stop()  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------------------------
# The whole stack
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class Infra:
    kafka: LocalKafka | External
    store: LocalFerretDB | LocalMongod | External

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka.bootstrap_servers if isinstance(self.kafka, LocalKafka) else self.kafka.address

    @property
    def mongodb_uri(self) -> str:
        return self.store.address if isinstance(self.store, External) else self.store.uri

    def stop(self) -> None:
        for component in (self.kafka, self.store):
            with contextlib.suppress(Exception):
                component.stop()


def start_infra(kafka_port: int | None = None, store_port: int | None = None, run_name: str = "dev") -> Infra:
    """Start (or find) Kafka and the store. Ports default to the well-known ones; tests pass free ports."""
    kafka: LocalKafka | External
    store: LocalFerretDB | LocalMongod | External
    docker = None  # checked lazily: a ping costs a second when no engine runs

    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        kafka = External("kafka", os.environ["KAFKA_BOOTSTRAP_SERVERS"])
    else:
        docker = docker_engine_answers()
        if docker:
            from testcontainers.kafka import KafkaContainer  # type: ignore[import-not-found]

            container = KafkaContainer().start()
            kafka = External("kafka", container.get_bootstrap_server(), container)
        else:
            kafka = LocalKafka(port=kafka_port or 9092, controller_port=free_port() if kafka_port else 9093,
                               home=LOCAL_DIR / "run" / run_name / "kafka", name=f"kafka-{run_name}")
    try:
        if os.environ.get("MONGODB_URI"):
            store = External("store", os.environ["MONGODB_URI"])
        elif shutil.which("mongod"):
            store = LocalMongod(port=store_port or 27017, home=LOCAL_DIR / "run" / run_name / "mongod",
                                name=f"mongod-{run_name}")
        else:
            if docker is None:
                docker = docker_engine_answers()
            if docker:
                from testcontainers.mongodb import MongoDbContainer  # type: ignore[import-not-found]

                mongo_container = MongoDbContainer().start()
                store = External("store", mongo_container.get_connection_url(), mongo_container)
            else:
                store = LocalFerretDB(port=store_port or 27017, home=LOCAL_DIR / "run" / run_name / "ferretdb",
                                      name=f"ferretdb-{run_name}")
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
        Infra(kafka, store).stop()  # type: ignore[arg-type]
        raise
    return Infra(kafka, store)


def prepare() -> None:
    """Download and build everything once, start nothing (used by CI before the tests)."""
    if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        ensure_kafka_jars()
    if not os.environ.get("MONGODB_URI") and not shutil.which("mongod"):
        ensure_ferretdb_binary()


# ---------------------------------------------------------------------------------------------------------------
# Services
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class ServiceProcess:
    name: str
    port: int
    process: subprocess.Popen  # type: ignore[type-arg]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 20.0) -> None:
        _terminate(self.process, timeout, f"service-{self.log_path.stem}")


def service_env(name: str, infra: Infra, port: int, namespace: str, api_secret: str,
                extra: dict[str, str] | None = None) -> dict:
    prefix = name.upper() + "_"
    env = {
        **os.environ,
        f"{prefix}KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap_servers,
        f"{prefix}MONGODB_URI": infra.mongodb_uri,
        f"{prefix}MONGODB_DATABASE": f"{namespace}_{name}",
        f"{prefix}TOPIC_PREFIX": "" if namespace == "migradesk" else f"{namespace}.",
        f"{prefix}HTTP_PORT": str(port),
        f"{prefix}ENVIRONMENT": os.environ.get("MIGRADESK_ENVIRONMENT", "development"),
        # One secret for the three services: a token issued for one is checked by all.
        f"{prefix}API_TOKEN_SECRET": api_secret,
    }
    env.update(extra or {})
    return env


def wait_http_ready(url: str, timeout: float = 60.0, process: subprocess.Popen | None = None,  # type: ignore[type-arg]
                    log_path: Path | None = None) -> None:
    import urllib.request

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/health/ready", timeout=2) as response:  # noqa: S310
                return bool(response.status == 200)
        except OSError:
            return False

    _wait(ready, url, timeout, process, log_path)


def start_service(name: str, infra: Infra, port: int, namespace: str, api_secret: str,
                  extra_env: dict[str, str] | None = None, wait: bool = True, instance: int = 0) -> ServiceProcess:
    """Start one process of a service; `instance` tells replicas of one service apart (logs, pid files)."""
    log_path = LOG_DIR / (f"{namespace}-{name}.log" if instance == 0 else f"{namespace}-{name}-{instance}.log")
    process = spawn(f"service-{log_path.stem}", [sys.executable, "-m", f"migradesk_{name}"], log_path,
                    env=service_env(name, infra, port, namespace, api_secret, extra_env), cwd=REPO_ROOT)
    service = ServiceProcess(name, port, process, log_path)
    if wait:
        try:
            wait_http_ready(service.url, process=process, log_path=log_path)
        except BaseException:
            service.stop()
            raise
    return service


@contextlib.contextmanager
def running_services(infra: Infra, namespace: str, api_secret: str, ports: dict[str, int] | None = None,
                     extra_env: dict[str, str] | None = None) -> Iterator[dict[str, ServiceProcess]]:
    ports = ports or {name: free_port() for name in SERVICE_PORTS}
    services: dict[str, ServiceProcess] = {}
    try:
        for name in SERVICE_PORTS:
            services[name] = start_service(name, infra, ports[name], namespace, api_secret, extra_env)
        yield services
    finally:
        for service in services.values():
            service.stop()


@contextlib.contextmanager
def running_replicas(infra: Infra, namespace: str, api_secret: str, replicas: int,
                     extra_env: dict[str, str] | None = None) -> Iterator[dict[str, list[ServiceProcess]]]:
    """`replicas` processes of each service, sharing the store, the topics and the consumer groups, as
    Deployments with several pods do."""
    services: dict[str, list[ServiceProcess]] = {name: [] for name in SERVICE_PORTS}
    try:
        for instance in range(replicas):
            for name in SERVICE_PORTS:
                services[name].append(start_service(name, infra, free_port(), namespace, api_secret, extra_env,
                                                    instance=instance))
        yield services
    finally:
        for processes in services.values():
            for service in processes:
                service.stop()


class _StopRequested(Exception):
    pass


def _stop_on_signals() -> None:
    # Ctrl-C and `kill` both end the run through the same clean-up path. The first signal starts it; later
    # ones (make forwards the signal its process group already got) must not interrupt it half-way, or
    # services would be left running without their broker and store.
    def handler(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise _StopRequested

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run(args: argparse.Namespace) -> int:
    _stop_on_signals()
    infra: Infra | None = None
    try:
        infra = start_infra(run_name="dev")
        # A fresh secret per run unless one is given: the demo tokens below are valid for this run only.
        secret = os.environ.get("MIGRADESK_API_TOKEN_SECRET") or secrets.token_urlsafe(32)
        with running_services(infra, "migradesk", secret, ports=dict(SERVICE_PORTS),
                              extra_env={"REFERRAL_SEED_DEMO_AGENCIES": "true"}) as services:
            from migradesk_shared.auth import Role, issue_token

            staff = issue_token(secret, subject="ana", role=Role.STAFF)
            seeded_marker = LOCAL_DIR / "run" / "dev" / "demo-cases-seeded"
            if not seeded_marker.exists():
                from infra.demo import seed_demo_cases

                log(f"registered {seed_demo_cases(services['intake'].url, staff)} demo cases")
                seeded_marker.write_text("demo cases were registered in this store\n")
            print("\nMigraDesk is running. Open the desk (signed in as demo staff member 'ana'):\n", flush=True)
            print(f"    {services['intake'].url}/#token={staff}\n", flush=True)
            print("Demo access tokens for the APIs (Authorization: Bearer <token>, or 'Authorize' in /docs):",
                  flush=True)
            print(f"  staff        {staff}", flush=True)
            print(f"  coordinator  {issue_token(secret, subject='coordenacao', role=Role.COORDINATOR)}", flush=True)
            agency = issue_token(secret, subject="recepcao", role=Role.AGENCY, agency_id="ubs-jardim-climax")
            print(f"  agency       {agency}   (UBS Jardim Clímax)\n", flush=True)
            print(f"  referral API  {services['referral'].url}/docs", flush=True)
            print(f"  metrics API   {services['metrics'].url}/docs", flush=True)
            print(f"  intake API    {services['intake'].url}/docs", flush=True)
            print(f"\nKafka {infra.bootstrap_servers}   store {infra.mongodb_uri}   logs {LOG_DIR}", flush=True)
            print("Press Ctrl-C to stop everything.\n", flush=True)
            while True:
                for service in services.values():
                    if service.process.poll() is not None:
                        raise InfraError(f"{service.name} exited with code {service.process.returncode}; "
                                         f"see {service.log_path}")
                time.sleep(1)
    except _StopRequested:
        return 0
    finally:
        log("stopping...")
        if infra is not None:
            infra.stop()


def up(args: argparse.Namespace) -> int:
    """Kafka and the store only, for working on one service at a time."""
    _stop_on_signals()
    infra: Infra | None = None
    try:
        infra = start_infra(run_name="dev")
        print(f"KAFKA_BOOTSTRAP_SERVERS={infra.bootstrap_servers}\nMONGODB_URI={infra.mongodb_uri}", flush=True)
        while True:
            time.sleep(3600)
    except _StopRequested:
        return 0
    finally:
        if infra is not None:
            infra.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.launcher", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("prepare", help="fetch the Kafka jars and build FerretDB, start nothing")
    sub.add_parser("up", help="start Kafka and the store until Ctrl-C")
    sub.add_parser("run", help="start Kafka, the store and the three services until Ctrl-C")
    args = parser.parse_args(argv)
    try:
        if args.command == "prepare":
            prepare()
            return 0
        return {"up": up, "run": run}[args.command](args)
    except InfraError as exc:
        log(f"error: {exc}")
        return 1


def new_namespace(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


if __name__ == "__main__":
    raise SystemExit(main())
