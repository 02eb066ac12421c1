from __future__ import annotations

import argparse
import asyncio

from migradesk_metrics.bootstrap import create_app
from migradesk_metrics.settings import MetricsSettings
from migradesk_shared.mongo import connect
from migradesk_shared.runtime import serve


async def rebuild(settings: MetricsSettings) -> None:
    from migradesk_metrics.entrypoints.rebuild import rebuild_rollups

    client = connect(settings.mongodb_uri, app_name="migradesk-metrics-rebuild")
    try:
        report = await rebuild_rollups(settings, client[settings.mongodb_database])
    finally:
        await client.close()
    print(f"rebuilt {report.buckets} buckets from {report.events} events in {report.seconds:.1f} s "
          f"({report.duplicates} duplicates skipped, {report.unreadable} unreadable messages skipped)")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m migradesk_metrics", description="The metrics service.")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "rebuild"],
                        help="serve (default), or rebuild the rollups from the event log with the service's "
                             "consumers stopped")
    args = parser.parse_args()
    settings = MetricsSettings()  # fails fast on invalid settings
    if args.command == "rebuild":
        asyncio.run(rebuild(settings))
    else:
        serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
