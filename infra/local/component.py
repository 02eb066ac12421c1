"""What every piece of the local stack is: something that starts, stops, has an address and can be probed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from infra.local.process import port_open


@runtime_checkable
class Component(Protocol):
    """The broker, the store and each service process.

    `address` is what a client needs: bootstrap servers for the broker, a mongodb:// URI for the store, a base
    URL for a service. `healthy()` is cheap (a process check and a connect or one HTTP request), so callers may
    poll it."""

    name: str

    @property
    def address(self) -> str: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def healthy(self) -> bool: ...


def _endpoints(address: str) -> list[tuple[str, int]] | None:
    """host:port pairs of bootstrap servers or a mongodb:// URI; None when they cannot be known without DNS."""
    default_port = 9092
    hosts = address
    if "://" in address:
        parts = urlsplit(address)
        if parts.scheme == "mongodb+srv":
            return None
        default_port = 27017 if parts.scheme == "mongodb" else default_port
        hosts = parts.netloc.rpartition("@")[2]
    endpoints = []
    for entry in filter(None, (item.strip() for item in hosts.split(","))):
        if entry.startswith("["):  # [ipv6]:port
            host, _, rest = entry[1:].partition("]")
            port = rest.removeprefix(":")
        else:
            host, _, port = entry.rpartition(":") if ":" in entry else (entry, "", "")
        endpoints.append((host, int(port) if port else default_port))
    return endpoints


@dataclass
class External:
    """A dependency someone else runs (an environment variable, or a testcontainers container we started and
    stop); never started by us, and stopped only when it is our container."""

    name: str
    address: str
    container: object | None = None
    can_restart: bool = False

    def start(self) -> None:
        """Nothing to do: it runs already."""

    def stop(self, timeout: float = 30.0) -> None:
        if self.container is not None:
            self.container.stop()  # type: ignore[attr-defined]

    def healthy(self) -> bool:
        endpoints = _endpoints(self.address)
        if endpoints is None:
            return True  # resolved through DNS by the driver; nothing cheap to probe
        return any(port_open(host, port) for host, port in endpoints)
