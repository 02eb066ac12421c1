"""TEMPORARY: the names the old launcher had, re-exported from their new homes in the infra.local package.

Everything that was here lives in infra/local/ now (see its __init__ docstring); `make run` and friends call
`python -m infra.local`. This module only keeps existing imports working until they import from infra.local
directly; then it is deleted. Add nothing here.

Note that assigning to a name here (e.g. monkeypatching `launcher.ensure_ferretdb_binary`) does not change the
code in infra.local that uses it: patch the attribute of the module that reads it (infra.local.store, ...).
"""

from infra.local.cli import main
from infra.local.component import Component, External
from infra.local.kafka import KAFKA_LIBS, KAFKA_POM, LOG4J2_CONFIG, LocalKafka, ensure_kafka_jars
from infra.local.paths import INFRA_DIR, LOCAL_DIR, LOG_DIR, PID_DIR, REPO_ROOT
from infra.local.process import (
    InfraError,
    free_port,
    log,
    port_open,
    reap_stale,
    require_tool,
    spawn,
    wait_http_ready,
)
from infra.local.process import digest as _digest
from infra.local.services import (
    SERVICE_PORTS,
    ServiceProcess,
    new_namespace,
    running_replicas,
    running_services,
    service_env,
    start_service,
)
from infra.local.stack import Infra, docker_engine_answers, prepare, start_infra
from infra.local.store import (
    FERRETDB_BIN,
    FERRETDB_SRC,
    LocalFerretDB,
    LocalMongod,
    ensure_ferretdb_binary,
    ferretdb_stamp,
)

__all__ = [
    "FERRETDB_BIN",
    "FERRETDB_SRC",
    "INFRA_DIR",
    "KAFKA_LIBS",
    "KAFKA_POM",
    "LOCAL_DIR",
    "LOG4J2_CONFIG",
    "LOG_DIR",
    "PID_DIR",
    "REPO_ROOT",
    "SERVICE_PORTS",
    "Component",
    "External",
    "Infra",
    "InfraError",
    "LocalFerretDB",
    "LocalKafka",
    "LocalMongod",
    "ServiceProcess",
    "_digest",
    "docker_engine_answers",
    "ensure_ferretdb_binary",
    "ensure_kafka_jars",
    "ferretdb_stamp",
    "free_port",
    "log",
    "main",
    "new_namespace",
    "port_open",
    "prepare",
    "reap_stale",
    "require_tool",
    "running_replicas",
    "running_services",
    "service_env",
    "spawn",
    "start_infra",
    "start_service",
    "wait_http_ready",
]
