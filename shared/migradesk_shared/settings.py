"""Service settings: one pydantic-settings class per service, each with its own environment prefix."""

from __future__ import annotations

from enum import StrEnum
from typing import Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "dev-secret", "secret", "password"})
# Loopback addresses on any port: where `make run` serves the three services' pages side by side.
LOOPBACK_ORIGINS = ("http://127.0.0.1:*", "http://localhost:*")


def secret_text(secret: str | SecretStr) -> str:
    """The value of a secret, at the one place that uses it (a settings field is SecretStr: no repr, log line or
    error shows it)."""
    return secret.get_secret_value() if isinstance(secret, SecretStr) else secret


def origin_of(url: str) -> str | None:
    """scheme://host[:port] of an absolute address; None for a path on this host."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


class ServiceSettings(BaseSettings):
    """Fields every service has. Subclasses set `env_prefix` (INTAKE_, REFERRAL_, METRICS_)."""

    # A refused setting's error names the field and why, never the values read (the environment holds secrets).
    model_config = SettingsConfigDict(env_prefix="MIGRADESK_", extra="ignore", hide_input_in_errors=True)

    service_name: str = "migradesk"
    environment: Environment = Environment.DEVELOPMENT
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # 1 on a single local broker; 3 in a production cluster (with min.insync.replicas=2).
    kafka_replication_factor: int = Field(default=1, ge=1)
    # May carry the store's user and password.
    mongodb_uri: SecretStr = SecretStr("mongodb://127.0.0.1:27017/")
    mongodb_database: str = "migradesk"
    # Prepended to every topic name; lets tests and staging share one broker without crosstalk.
    topic_prefix: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=1, le=65535)
    # The proxies (addresses or networks, comma-separated) whose X-Forwarded-For names the client: behind an
    # ingress, its controller's. Otherwise every request seems to come from the ingress, for the audit trail and
    # for intake's limit of failed sign-ins per address alike.
    forwarded_allow_ips: str = "127.0.0.1,::1"
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
    api_token_secret: SecretStr = SecretStr("dev-secret")
    # Where people sign in: intake's address (its /sign-in, /sign-out and /account/password pages). Intake
    # serves them itself (""); another service's pages send an anonymous browser there.
    accounts_url: str = "http://127.0.0.1:8001"
    # A request body larger than this is refused with 413 before any route reads it (a registration with its
    # requests is a few kilobytes; no route takes files).
    max_request_bytes: int = Field(default=1024 * 1024, ge=1024)
    # A document attached to a governance record (10 MB at most) with its form around it.
    max_upload_bytes: int = Field(default=11 * 1024 * 1024, ge=1024)
    # The API's interactive documentation (/docs, /redoc, /openapi.json): for development; off in deploy/k8s.
    public_docs: bool = True
    # Prometheus' /metrics answers a scrape with `Authorization: Bearer <metrics_token>`. Without one it is open in
    # development and not served anywhere else.
    metrics_token: SecretStr = SecretStr("")

    def page_origins(self) -> list[str]:
        """The other origins this service's pages post forms to, or are sent on to after a form's post: intake's
        sign-out from the other services' pages (the pages' Content-Security-Policy allows them, and no other)."""
        found = [o for o in (origin_of(self.accounts_url),) if o]
        if self.environment is Environment.DEVELOPMENT:
            found.extend(LOOPBACK_ORIGINS)
        return list(dict.fromkeys(found))

    @property
    def json_logs(self) -> bool:
        return self.log_json if self.log_json is not None else self.environment is Environment.PRODUCTION

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Self:
        if self.environment is not Environment.DEVELOPMENT:
            prefix = self.model_config.get("env_prefix", "")
            secret = self.api_token_secret.get_secret_value()
            if secret in PLACEHOLDER_SECRETS:
                raise ValueError(f"{prefix}API_TOKEN_SECRET is a placeholder; set a real secret outside development")
            if len(secret) < 32:
                raise ValueError(f"{prefix}API_TOKEN_SECRET is too short: tokens are signed with it (HS256), "
                                 "use at least 32 random characters")
        return self
