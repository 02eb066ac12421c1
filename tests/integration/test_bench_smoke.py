"""make bench must keep working: a tiny run prints every labelled line (figures themselves are not judged here)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from infra.local.paths import REPO_ROOT

pytestmark = [pytest.mark.infra, pytest.mark.slow]

TINY = {"BENCH_EVENTS": "60", "BENCH_REQUESTS": "20", "BENCH_DASHBOARD_SIZES": "200",
        "BENCH_STORED_SIZES": "20,50", "BENCH_RATES": "5", "BENCH_SECONDS": "2", "BENCH_BURST": "20",
        "BENCH_REPLAY_EVENTS": "100", "BENCH_STORE_SIZES": "200", "BENCH_STORE_SECONDS": "0.2",
        "BENCH_WORKLIST_SIZES": "50,100", "BENCH_WORKLIST_QUERIES": "5",
        # a tiny store drains in seconds; a stall must fail this test quickly, not after minutes
        "BENCH_STALL_SECONDS": "60"}


@pytest.mark.timeout(900)
def test_a_tiny_benchmark_run_prints_every_labelled_line() -> None:
    result = subprocess.run([sys.executable, "-m", "bench.run"], cwd=REPO_ROOT, env={**os.environ, **TINY},
                            capture_output=True, text=True, timeout=840, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()

    def printed(label: str, *words: str) -> list[str]:
        return [line for line in lines if line.startswith(label) and all(w in line for w in words)]

    for label, word in (("(a) pipeline", "ratio"), ("(c) intake", "ratio"), ("    memory", "ratio"),
                        ("(d) dashboard", "speed-up"), ("(e) replay", "ratio"), ("(f) worklist", "ratio 100/50"),
                        ("(f) worklist", "below 50 ms")):
        assert printed(label, word), (label, lines)
    # (b): a drained seeding, a latency line and a burst line per stored size, then ratios that were computed
    for stored in ("20", "50"):
        assert printed("(b) seeding", f"stored {stored.rjust(7)}", "drained"), (stored, lines)
        assert printed("(b) latency", f"stored {stored.rjust(7)}", "5/s", "inbox p50", "metrics p50"), lines
        assert printed("(b) burst", f"stored {stored.rjust(7)}", "all routed in"), lines
    assert printed("(b) ratio", "5/s", "inbox ratio", "metrics ratio"), lines
    assert printed("(b) ratio", "burst", "inbox ratio", "metrics ratio"), lines
