from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from migradesk_shared.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")

    service_name: str = "intake"
    http_port: int = 8001
    mongodb_database: str = "migradesk_intake"
