from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from migradesk_shared.settings import ServiceSettings


class ReferralSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REFERRAL_", extra="ignore")

    service_name: str = "referral"
    http_port: int = 8002
    mongodb_database: str = "migradesk_referral"
    consumer_group: str = "referral"
    # Loads the demo directory of Dourados partner agencies at start-up (idempotent upserts).
    seed_demo_agencies: bool = False
    # How often declined referrals are re-routed (also woken at once by a decline) and SLAs are checked.
    reroute_poll_seconds: float = Field(default=5.0, gt=0)
    sla_check_seconds: float = Field(default=60.0, gt=0)
    # How often each agency's open-referral counter is recounted (it can drift by one after a crash).
    load_reconcile_seconds: float = Field(default=21600.0, gt=0)
