"""The MongoDB-compatible store: FerretDB v1 on SQLite, built with the project's patches by ferretdb_build.py
(reused while its stamp matches), or a real `mongod` when one is on PATH."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from infra.local.ferretdb_build import FERRETDB_SRC, FerretDBBuildError, ensure_ferretdb, ferretdb_stamp
from infra.local.paths import BIN_DIR, LOCAL_DIR, LOG_DIR, RUN_DIR
from infra.local.process import (
    InfraError,
    alive,
    log,
    port_open,
    reap_stale,
    require_tool,
    spawn,
    terminate,
    wait_for,
)

__all__ = ["FERRETDB_BIN", "FERRETDB_SRC", "LocalFerretDB", "LocalMongod", "ensure_ferretdb_binary", "ferretdb_stamp"]

FERRETDB_BIN = BIN_DIR / "ferretdb-local"


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
class LoopbackStore:
    """A MongoDB-compatible server process of ours on a loopback port, data under <home>/data."""

    name: str = "store"
    port: int = 27017
    home: Path = field(default_factory=lambda: RUN_DIR / "store")
    process: subprocess.Popen | None = None  # type: ignore[type-arg]

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    @property
    def address(self) -> str:
        return self.uri

    @property
    def log_path(self) -> Path:
        return LOG_DIR / f"{self.name}.log"

    def stop(self, timeout: float = 30.0) -> None:
        terminate(self.process, timeout, self.name)
        self.process = None

    def healthy(self) -> bool:
        return alive(self.process) and port_open("127.0.0.1", self.port)


@dataclass
class LocalFerretDB(LoopbackStore):
    """FerretDB on a loopback port over <home>/data. `binary` runs another build (e.g. the unpatched one);
    by default the patched binary, built if needed."""

    name: str = "ferretdb"
    home: Path = field(default_factory=lambda: RUN_DIR / "ferretdb")
    binary: Path | None = None

    def start(self, timeout: float = 60.0) -> None:
        binary = self.binary or ensure_ferretdb_binary()
        data = self.home / "data"
        data.mkdir(parents=True, exist_ok=True)
        reap_stale(self.name)
        if port_open("127.0.0.1", self.port):
            raise InfraError(f"port {self.port} is already in use; stop whatever listens there or choose another")
        self.process = spawn(self.name, [str(binary), f"--listen-addr=127.0.0.1:{self.port}", f"--sqlite-dir={data}"],
                             self.log_path, env={**os.environ, "DO_NOT_TRACK": "1"})
        wait_for(lambda: port_open("127.0.0.1", self.port), "FerretDB", timeout, self.process, self.log_path)
        log(f"FerretDB ready on {self.uri} (log {self.log_path})")



@dataclass
class LocalMongod(LoopbackStore):
    """A real MongoDB server, when one happens to be installed."""

    name: str = "mongod"
    home: Path = field(default_factory=lambda: RUN_DIR / "mongod")

    def start(self, timeout: float = 60.0) -> None:
        (self.home / "data").mkdir(parents=True, exist_ok=True)
        self.process = spawn(self.name, ["mongod", "--bind_ip", "127.0.0.1", "--port", str(self.port),
                                         "--dbpath", str(self.home / "data")], self.log_path)
        wait_for(lambda: port_open("127.0.0.1", self.port), "mongod", timeout, self.process, self.log_path)

