"""Where the local infrastructure keeps things: everything fetched, built, run or logged lives under .local/.

    .local/bin/          binaries built here (the patched FerretDB)
    .local/kafka/libs/   the broker jars Maven fetched
    .local/logs/         one log per component
    .local/pids/         one pid file per running component, to reap what an interrupted run left behind
    .local/run/<name>/   data directories of one run (`dev` for `make run`, a fresh name per test session)

MIGRADESK_LOCAL_DIR moves the whole tree elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
INFRA_DIR = REPO_ROOT / "infra"
LOCAL_DIR = Path(os.environ.get("MIGRADESK_LOCAL_DIR", REPO_ROOT / ".local"))
LOG_DIR = LOCAL_DIR / "logs"
PID_DIR = LOCAL_DIR / "pids"
RUN_DIR = LOCAL_DIR / "run"
BIN_DIR = LOCAL_DIR / "bin"
