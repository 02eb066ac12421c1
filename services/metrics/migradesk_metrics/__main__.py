from __future__ import annotations

from migradesk_metrics.bootstrap import create_app
from migradesk_metrics.settings import MetricsSettings
from migradesk_shared.runtime import serve


def main() -> None:
    settings = MetricsSettings()  # fails fast on invalid settings
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
