"""Running components as OS processes: spawning into a log, pid files (and reaping what an interrupted run left
behind), waiting for readiness, free ports, required tools, logged one-off commands."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from infra.local.paths import LOCAL_DIR, LOG_DIR, PID_DIR


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


def digest(*paths: Path) -> str:
    """SHA-256 over the files' contents: the stamps that decide whether something fetched or built is reused."""
    sha = hashlib.sha256()
    for path in paths:
        sha.update(path.read_bytes())
    return sha.hexdigest()


def run_logged(cmd: Sequence[str], log_name: str, cwd: Path | None = None,
               env: dict[str, str] | None = None) -> None:
    """Run a one-off command to completion, output appended to .local/logs/<log_name>."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / log_name
    with log_path.open("ab") as out:
        result = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise InfraError(f"`{' '.join(cmd)}` failed with exit code {result.returncode}; see {log_path}:\n{tail}")


def wait_for(predicate: Callable[[], bool], what: str, timeout: float,
             process: subprocess.Popen | None = None,  # type: ignore[type-arg]
             log_path: Path | None = None) -> None:
    """Poll `predicate` until it holds; fail early, with the log's tail, if `process` exits meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:] if log_path and log_path.exists() else ""
            raise InfraError(f"{what} exited with code {process.returncode} while starting; log {log_path}:\n{tail}")
        if predicate():
            return
        time.sleep(0.2)
    raise InfraError(f"{what} was not ready after {timeout:.0f}s; see {log_path}")


def http_ready(url: str, timeout: float = 2.0) -> bool:
    """GET <url>/health/ready answers 200."""
    try:
        with urllib.request.urlopen(f"{url}/health/ready", timeout=timeout) as response:  # noqa: S310
            return bool(response.status == 200)
    except OSError:
        return False


def wait_http_ready(url: str, timeout: float = 60.0, process: subprocess.Popen | None = None,  # type: ignore[type-arg]
                    log_path: Path | None = None) -> None:
    wait_for(lambda: http_ready(url), url, timeout, process, log_path)


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


def terminate(process: subprocess.Popen | None, timeout: float, name: str) -> None:  # type: ignore[type-arg]
    """SIGTERM, then SIGKILL after `timeout`; the pid file goes once the process is gone."""
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    # Only once it is gone: an interrupted clean-up leaves the pid file for the next start to reap.
    (PID_DIR / f"{name}.pid").unlink(missing_ok=True)


def alive(process: subprocess.Popen | None) -> bool:  # type: ignore[type-arg]
    return process is not None and process.poll() is None
