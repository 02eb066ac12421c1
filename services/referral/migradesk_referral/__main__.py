from __future__ import annotations

from migradesk_referral.bootstrap import create_app
from migradesk_referral.settings import ReferralSettings
from migradesk_shared.runtime import serve


def main() -> None:
    settings = ReferralSettings()  # fails fast on invalid settings
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
