"""make bench must keep working: a tiny run prints every ratio (figures themselves are not judged here)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from infra.launcher import REPO_ROOT

pytestmark = [pytest.mark.infra, pytest.mark.slow]


def test_a_tiny_benchmark_run_prints_every_ratio() -> None:
    env = {**os.environ, "BENCH_EVENTS": "60", "BENCH_REQUESTS": "20", "BENCH_DASHBOARD_SIZES": "200"}
    result = subprocess.run([sys.executable, "-m", "bench.run"], cwd=REPO_ROOT, env=env, capture_output=True,
                            text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    for label in ("(a) pipeline", "(c) intake", "memory", "(d) dashboard"):
        assert any(label in line and ("ratio" in line or "speed-up" in line) for line in lines), (label, lines)
