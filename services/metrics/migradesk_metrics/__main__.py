from __future__ import annotations

import argparse
import asyncio
import sys

from migradesk_metrics.adapters.generations import active_generation
from migradesk_metrics.bootstrap import create_app
from migradesk_metrics.entrypoints.rebuild import Progress, rebuild_and_switch, rebuild_rollups
from migradesk_metrics.settings import MetricsSettings
from migradesk_shared.mongo import connect
from migradesk_shared.runtime import serve


def print_progress(progress: Progress) -> None:
    """One line per update, redrawn in place on a terminal: phase, bar, counts, rate and time left."""
    share = progress.done / progress.total if progress.total else 1.0
    bar = "#" * int(share * 30)
    eta = progress.eta_seconds
    left = "" if eta is None else f"  {int(eta) // 60}:{int(eta) % 60:02d} left"
    line = (f"{progress.phase:<9} [{bar:<30}] {share:6.1%}  {progress.done:,}/{progress.total:,} messages  "
            f"{progress.rate:,.0f}/s{left}")
    if sys.stderr.isatty():
        sys.stderr.write("\r" + line)
        if progress.done >= progress.total:
            sys.stderr.write("\n")
    else:
        sys.stderr.write(line + "\n")
    sys.stderr.flush()


async def rebuild(settings: MetricsSettings, *, in_place: bool) -> None:
    client = connect(settings.mongodb_uri, app_name="migradesk-metrics-rebuild")
    try:
        if in_place:
            active = (await active_generation(client[settings.mongodb_database], settings)).applied_to(settings)
            report = await rebuild_rollups(active, client[active.mongodb_database], progress=print_progress)
        else:
            switched = await rebuild_and_switch(settings, client, progress=print_progress)
            report = switched.replay
    finally:
        await client.close()
    print(f"rebuilt {report.buckets} buckets from {report.events} events in {report.seconds:.1f} s "
          f"({report.duplicates} duplicates skipped, {report.unreadable} unreadable messages skipped)")
    if not in_place:
        print(f"caught up {switched.caught_up} messages written meanwhile; the service now counts into database "
              f"{switched.active.database!r} with consumer group {switched.active.consumer_group!r} (every process "
              f"follows within {settings.generation_check_seconds:g} s). The previous generation, database "
              f"{switched.previous.database!r}, is kept: drop it once the new figures are checked.")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m migradesk_metrics", description="The metrics service.")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "rebuild"],
                        help="serve (default), or rebuild the rollups from the event log: into a new database "
                             "while the service runs, switching over once caught up")
    parser.add_argument("--in-place", action="store_true",
                        help="rebuild: replace the rollups of the active database instead (stop the metrics "
                             "consumers first)")
    args = parser.parse_args()
    settings = MetricsSettings()  # fails fast on invalid settings
    if args.command == "rebuild":
        asyncio.run(rebuild(settings, in_place=args.in_place))
    else:
        serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
