from __future__ import annotations

from datetime import timedelta
from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from migradesk_intake.domain.account import AccountRules, SessionRules
from migradesk_shared.settings import Environment, ServiceSettings, origin_of


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")

    service_name: str = "intake"
    http_port: int = 8001
    mongodb_database: str = "migradesk_intake"

    # --- signing in: intake keeps the accounts and the sessions, and serves the sign-in pages ---------------
    accounts_url: str = ""
    # The session cookie goes over https only. True in any deployment behind https; false for http on loopback.
    secure_cookies: bool = False
    # Set (e.g. ".dourados.ms.gov.br") when the services' pages are on sibling host names rather than one host.
    session_cookie_domain: str | None = None
    session_idle_minutes: float = Field(default=30, gt=0)
    session_absolute_hours: float = Field(default=12, gt=0)
    # How long a session token holds where the session record cannot be seen (the other services' pages):
    # a revocation reaches them at most this late. Intake re-issues it while the session lives.
    session_token_minutes: float = Field(default=15, gt=0)
    sign_in_max_failures: int = Field(default=5, ge=1)
    sign_in_failure_window_minutes: float = Field(default=15, gt=0)
    sign_in_lock_minutes: float = Field(default=15, gt=0)
    # Failures from one network address (any usernames) within the window that refuse it for the lock's time.
    sign_in_max_failures_per_address: int = Field(default=30, ge=1)
    password_min_length: int = Field(default=12, ge=12)
    # Other services' page addresses (scheme://host[:port]) a person may be sent back to after signing in.
    # In development any loopback address is fine as well.
    return_origins: list[str] = Field(default_factory=list)
    # Where a partner agency's account lands after signing in when no page asked to be returned to: referral's
    # inbox (its pages check the session cookie intake sets). `make run` starts referral on port 8002; where
    # the services share one host (an ingress routing /inbox to referral), set "/inbox". Empty: the desk's home.
    agency_home_url: str = "http://127.0.0.1:8002/inbox"
    # Where a coordinator lands likewise: metrics' dashboard (`make run` starts metrics on port 8003; "/dashboard"
    # where an ingress routes it on this host). Empty: the desk's home.
    coordinator_home_url: str = "http://127.0.0.1:8003/dashboard"
    # Creates one account per role with known passwords (migradesk_intake/demo.py): development only.
    seed_demo_accounts: bool = False

    @model_validator(mode="after")
    def _demo_accounts_only_in_development(self) -> Self:
        if self.seed_demo_accounts and self.environment is not Environment.DEVELOPMENT:
            raise ValueError("INTAKE_SEED_DEMO_ACCOUNTS creates accounts whose passwords everyone knows: "
                             "development only")
        return self

    def page_origins(self) -> list[str]:
        # Signing in sends a person on to the inbox, the dashboard or the page they came from: a form's post
        # followed by a redirect, which the pages' form-action must allow.
        homes = [o for o in (origin_of(self.agency_home_url), origin_of(self.coordinator_home_url)) if o]
        return list(dict.fromkeys([*super().page_origins(), *self.return_origins, *homes]))

    @property
    def account_rules(self) -> AccountRules:
        return AccountRules(min_password_length=self.password_min_length, max_failures=self.sign_in_max_failures,
                            failure_window=timedelta(minutes=self.sign_in_failure_window_minutes),
                            lock_duration=timedelta(minutes=self.sign_in_lock_minutes),
                            max_failures_per_address=self.sign_in_max_failures_per_address)

    @property
    def session_rules(self) -> SessionRules:
        return SessionRules(idle_timeout=timedelta(minutes=self.session_idle_minutes),
                            absolute_timeout=timedelta(hours=self.session_absolute_hours),
                            token_lifetime=timedelta(minutes=self.session_token_minutes))
