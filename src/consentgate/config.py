"""Settings: built once at the edge (CLI, API) and passed down. Never built at import."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONSENTGATE_", extra="forbid", frozen=True)

    db_url: str = Field(
        "sqlite:///consentgate.db",
        description="SQLAlchemy URL of the ledger database; postgresql://host/db for PostgreSQL.",
    )
    notice_days: int = Field(
        30, ge=0, description="Notice period in days required before a material policy change."
    )
    key_dir: Path = Field(
        Path(".consentgate"),
        description="Directory for key files kept outside the database (signing key).",
    )
    gate_batch_rows: int = Field(65_536, gt=0, description="Rows per Arrow batch in the gate.")
