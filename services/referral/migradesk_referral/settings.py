from __future__ import annotations

from datetime import date, time
from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from migradesk_referral.domain.sla import DEFAULT_STATE, MONDAY_TO_FRIDAY, SlaPolicy
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
    # Response deadlines count the municipality's working hours (in `timezone`, the municipality's: Dourados-MS
    # is America/Campo_Grande) on working days, skipping Brazil's national holidays, the state's (its UF) and the
    # municipal ones listed (dates, e.g. the city's anniversary or a decreed Carnival closure). Protection counts
    # calendar hours. Working days are ISO weekdays, 1 = Monday … 7 = Sunday; lists are JSON in the environment.
    municipality_state: str = DEFAULT_STATE
    working_hours_start: time = time(8)
    working_hours_end: time = time(17)
    working_days: list[int] = Field(default_factory=lambda: sorted(MONDAY_TO_FRIDAY), min_length=1)
    municipal_holidays: list[date] = Field(default_factory=list)

    @model_validator(mode="after")
    def _valid_sla_policy(self) -> Self:
        # Refused at start, not at the first escalation check: an unknown zone or UF, hours that close before
        # they open, a weekday that does not exist.
        SlaPolicy.for_municipality(timezone=self.timezone, state=self.municipality_state,
                                   opens=self.working_hours_start, closes=self.working_hours_end,
                                   working_days=frozenset(self.working_days),
                                   municipal_holidays=frozenset(self.municipal_holidays))
        return self
