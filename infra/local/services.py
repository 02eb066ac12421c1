"""The three services as OS processes (`python -m migradesk_<name>`), one or several of each, pointed at the
stack's broker and store through their environment."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from infra.local.paths import LOG_DIR, REPO_ROOT
from infra.local.process import InfraError, alive, free_port, http_ready, spawn, terminate, wait_http_ready

if TYPE_CHECKING:
    from infra.local.stack import Infra

SERVICE_PORTS = {"intake": 8001, "referral": 8002, "metrics": 8003}


def new_namespace(prefix: str = "t") -> str:
    """A fresh name for one run's databases (<namespace>_<service>) and topic prefix (<namespace>.)."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@dataclass
class ServiceProcess:
    """One process of a service on a loopback port; its output goes to `log_path`, its pid file is named after
    the log (service-<log stem>), so replicas of one service are told apart."""

    name: str
    port: int
    log_path: Path
    env: dict[str, str] | None = field(default=None, repr=False)  # holds the token secret: not in repr
    _process: subprocess.Popen | None = field(default=None, init=False, repr=False)  # type: ignore[type-arg]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return self.url

    @property
    def pid_name(self) -> str:
        return f"service-{self.log_path.stem}"

    @property
    def process(self) -> subprocess.Popen:  # type: ignore[type-arg]
        """The OS process; still there after stop(), for its exit code."""
        if self._process is None:
            raise InfraError(f"{self.name} on port {self.port} has not been started")
        return self._process

    def start(self, timeout: float = 60.0, wait: bool = True) -> None:
        """Spawn the process; with `wait`, return once /health/ready answers (stopping it if it never does)."""
        self._process = spawn(self.pid_name, [sys.executable, "-m", f"migradesk_{self.name}"], self.log_path,
                              env=self.env, cwd=REPO_ROOT)
        if wait:
            try:
                wait_http_ready(self.url, timeout, process=self._process, log_path=self.log_path)
            except BaseException:
                self.stop()
                raise

    def stop(self, timeout: float = 20.0) -> None:
        terminate(self._process, timeout, self.pid_name)

    def healthy(self) -> bool:
        """The process runs and /health/ready answers 200."""
        return alive(self._process) and http_ready(self.url)


def service_env(name: str, infra: Infra, port: int, namespace: str, api_secret: str,
                extra: dict[str, str] | None = None) -> dict[str, str]:
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


def start_service(name: str, infra: Infra, port: int, namespace: str, api_secret: str,
                  extra_env: dict[str, str] | None = None, wait: bool = True, instance: int = 0) -> ServiceProcess:
    """Start one process of a service; `instance` tells replicas of one service apart (logs, pid files)."""
    log_path = LOG_DIR / (f"{namespace}-{name}.log" if instance == 0 else f"{namespace}-{name}-{instance}.log")
    service = ServiceProcess(name, port, log_path, env=service_env(name, infra, port, namespace, api_secret,
                                                                   extra_env))
    service.start(wait=wait)
    return service


@contextlib.contextmanager
def running_services(infra: Infra, namespace: str, api_secret: str, ports: dict[str, int] | None = None,
                     extra_env: dict[str, str] | None = None) -> Iterator[dict[str, ServiceProcess]]:
    """One process of each service, stopped on exit."""
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
