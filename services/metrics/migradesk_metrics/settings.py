from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from migradesk_shared.settings import ServiceSettings


class MetricsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="METRICS_", extra="ignore")

    service_name: str = "metrics"
    http_port: int = 8003
    mongodb_database: str = "migradesk_metrics"
    consumer_group: str = "metrics"
    # How often each process looks whether a rebuild switched the store to a new generation.
    generation_check_seconds: float = Field(default=10.0, gt=0)
    # Counting a batch costs a fixed few store commands whatever its size, so larger batches count faster.
    consumer_batch_size: int = Field(default=500, ge=1)
    # Published counts below this show as "<N" (DESIGN.md §4: default 5).
    suppression_threshold: int = Field(default=5, ge=2)
