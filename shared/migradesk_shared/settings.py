"""Service settings: one pydantic-settings class per service, each with its own environment prefix."""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "dev-secret", "secret", "password"})


class ServiceSettings(BaseSettings):
    """Fields every service has. Subclasses set `env_prefix` (INTAKE_, REFERRAL_, METRICS_)."""

    model_config = SettingsConfigDict(env_prefix="MIGRADESK_", extra="ignore")

    service_name: str = "migradesk"
    environment: Environment = Environment.DEVELOPMENT
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # 1 on a single local broker; 3 in a production cluster (with min.insync.replicas=2).
    kafka_replication_factor: int = Field(default=1, ge=1)
    mongodb_uri: str = "mongodb://127.0.0.1:27017/"
    mongodb_database: str = "migradesk"
    # Prepended to every topic name; lets tests and staging share one broker without crosstalk.
    topic_prefix: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=1, le=65535)
    log_json: bool | None = None
    log_level: str = "INFO"
    municipality: str = "Dourados-MS"
    timezone: str = "America/Sao_Paulo"
    # Consumer delivery policy: attempts before a message is dead-lettered (infrastructure errors retry forever).
    consumer_max_attempts: int = Field(default=5, ge=1)
    consumer_backoff_seconds: float = Field(default=0.2, gt=0)
    # Consumer group (per topic: "<prefix><group>.<topic>") shared by every process of the service.
    consumer_group: str = ""
    consumer_batch_size: int = Field(default=200, ge=1)
    outbox_poll_seconds: float = Field(default=0.5, gt=0)
    # How long another process's unpublished outbox waits before this process's relay publishes it.
    outbox_takeover_seconds: float = Field(default=2.0, gt=0)
    # Days of processed-event ids kept for de-duplication (redeliveries come within minutes).
    inbox_retention_days: int = Field(default=7, ge=1)
    # A development placeholder; refused outside development (see the validator below). It also signs the pages'
    # session tokens and their CSRF tokens (through keys derived from it, one per use).
    api_token_secret: str = "dev-secret"  # noqa: S105
    # Where people sign in: intake's address (its /sign-in, /sign-out and /account/password pages). Intake
    # serves them itself (""); another service's pages send an anonymous browser there.
    accounts_url: str = "http://127.0.0.1:8001"

    @property
    def json_logs(self) -> bool:
        return self.log_json if self.log_json is not None else self.environment is Environment.PRODUCTION

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Self:
        if self.environment is not Environment.DEVELOPMENT:
            prefix = self.model_config.get("env_prefix", "")
            if self.api_token_secret in PLACEHOLDER_SECRETS:
                raise ValueError(f"{prefix}API_TOKEN_SECRET is a placeholder; set a real secret outside development")
            if len(self.api_token_secret) < 32:
                raise ValueError(f"{prefix}API_TOKEN_SECRET is too short: tokens are signed with it (HS256), "
                                 "use at least 32 random characters")
        return self
