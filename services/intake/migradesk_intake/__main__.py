from __future__ import annotations

from migradesk_intake.bootstrap import create_app
from migradesk_intake.settings import IntakeSettings
from migradesk_shared.runtime import serve


def main() -> None:
    settings = IntakeSettings()  # fails fast on invalid settings
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
