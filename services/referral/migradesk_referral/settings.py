from __future__ import annotations

from datetime import date, time
from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from migradesk_referral.domain.notifications import is_email_address
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
    # E-mail notices of escalations (a referral overdue, a request no agency took), sent through this SMTP server
    # to the referral's agency (its directory contact) and to the desk. No host: the notices are recorded on the
    # referral as not sent, and the pages still show the escalations.
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_starttls: bool = True
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    mail_from: str = "migradesk@localhost.localdomain"
    # The desk's shared mailbox (the coordination's); empty: the desk is not written to.
    desk_notification_email: str = ""
    # Where the pages are reached from a mail client (the links in the notices): the host that serves /inbox.
    pages_base_url: str = "http://127.0.0.1:8002"
    # How often the notices waiting to go out are sent (a failed one is retried later, backing off).
    notify_poll_seconds: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _valid_sla_policy(self) -> Self:
        # Refused at start, not at the first escalation check: an unknown zone or UF, hours that close before
        # they open, a weekday that does not exist.
        SlaPolicy.for_municipality(timezone=self.timezone, state=self.municipality_state,
                                   opens=self.working_hours_start, closes=self.working_hours_end,
                                   working_days=frozenset(self.working_days),
                                   municipal_holidays=frozenset(self.municipal_holidays))
        return self

    @model_validator(mode="after")
    def _valid_mail_addresses(self) -> Self:
        # Refused at start, not when the first escalation is written to nobody.
        if self.desk_notification_email and not is_email_address(self.desk_notification_email):
            raise ValueError(f"desk_notification_email is not an e-mail address: {self.desk_notification_email!r}")
        if not is_email_address(self.mail_from):
            raise ValueError(f"mail_from is not an e-mail address: {self.mail_from!r}")
        return self
