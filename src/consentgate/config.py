"""Settings: built once at the edge (CLI, API) and passed down. Never built at import."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONSENTGATE_", extra="forbid", frozen=True)

    db_url: str = Field(
        "sqlite:///consentgate.db",
        description="SQLAlchemy URL of the ledger database; postgresql://host/db for PostgreSQL.",
    )
    busy_timeout: float = Field(
        30.0,
        gt=0,
        description=(
            "Seconds a write waits for the ledger's lock held by another process, per "
            "attempt (SQLite: 3 attempts); then the command exits 1, nothing written."
        ),
    )
    auto_checkpoint: bool = Field(
        True,
        description=(
            "Sign a checkpoint of the audit log after every command that grew it by at least "
            "checkpoint_every entries, and before every build (keeps the latest in "
            "<key_dir>/checkpoint.latest too)."
        ),
    )
    checkpoint_every: int = Field(
        1, ge=1, description="Entries a command must add before it signs a checkpoint."
    )
    umask: str = Field(
        "027",
        description=(
            "Octal umask for every file consentgate creates (ledger, dataset parts, "
            "manifests, snapshots): 027 gives files 640 and directories 750; 077 gives 600."
        ),
    )
    notice_days: int = Field(
        30, ge=0, description="Notice period in days required before a material policy change."
    )
    key_dir: Path = Field(
        Path(".consentgate"),
        description="Directory for key files kept outside the database (signing key).",
    )
    gate_batch_rows: int = Field(65_536, gt=0, description="Rows per Arrow batch in the gate.")
    gate_max_future_share: float = Field(
        0.001,
        ge=0.0,
        le=1.0,
        description=(
            "Largest share of a build's source (0.001 = 0.1%) whose created_at may be after "
            "the build time; such records are bad input, always excluded (reason "
            "created_after_build), and above this share the build is refused."
        ),
    )
    signing_key: Path | None = Field(
        None,
        description=(
            "Ed25519 key file that signs the audit log's checkpoints and consent receipts "
            "(created by init, mode 0600, never in the database); default <key_dir>/log.key."
        ),
    )
    withdrawal_deadline_days: int = Field(
        30,
        ge=1,
        description=(
            "Calendar days to remediate a withdrawal or denial of consent (GDPR Art. 12(3): "
            "one month); counted from when the request was recorded."
        ),
    )
    erasure_deadline_days: int = Field(
        30, ge=1, description="Calendar days to remediate an erasure request."
    )
    opt_out_deadline_business_days: int = Field(
        15,
        ge=1,
        description=(
            "Business days (Mon-Fri) to honour a US member's opt-out of sharing with a third "
            "party (CCPA regulations, 11 CCR 7026(f))."
        ),
    )
    outbox_dir: Path | None = Field(
        None,
        description=(
            "Directory where signed deletion notices to third parties are written; "
            "default <key_dir>/outbox."
        ),
    )
    openlineage: dict[str, Any] | None = Field(
        None,
        description=(
            'OpenLineage emission (off when unset), as JSON: {"transport": {...}} in '
            'openlineage-python\'s transport configuration, e.g. {"type": "file", '
            '"log_file_path": "lineage.jsonl", "append": true}, {"type": '
            '"console"} or {"type": "http", "url": "..."} (docs/ecosystem.md).'
        ),
    )

    @field_validator("openlineage")
    @classmethod
    def _has_transport(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        transport = value.get("transport")
        if not isinstance(transport, dict) or not isinstance(transport.get("type"), str):
            raise ValueError('needs {"transport": {"type": ...}} (file, console or http)')
        return value

    service_jwt_algorithm: Literal["HS256", "RS256", "EdDSA"] = Field(
        "HS256",
        description=(
            "The one algorithm member tokens (JWT) are accepted with by `consentgate serve`; "
            "tokens signed with any other (including `none`) are refused."
        ),
    )
    service_jwt_key: Path | None = Field(
        None,
        description=(
            "File with the key member tokens are verified with: the shared secret for HS256 "
            "(at least 32 bytes), the PEM public key for RS256 or EdDSA. Unset: member tokens "
            "are refused."
        ),
    )
    service_jwt_audience: str | None = Field(
        None, description="When set, member tokens must carry this `aud` claim."
    )
    service_jwt_issuer: str | None = Field(
        None, description="When set, member tokens must carry this `iss` claim."
    )
    service_session_key: Path | None = Field(
        None,
        description=(
            "File with the key that signs session cookies and CSRF tokens (created with 32 "
            "random bytes, mode 0600, when missing); default <key_dir>/session.key."
        ),
    )
    service_session_minutes: int = Field(
        60, ge=1, le=24 * 60, description="Lifetime of a member's session cookie, in minutes."
    )
    service_cookie_secure: bool = Field(
        True,
        description=(
            "Mark the session cookie Secure (sent over HTTPS only). Turn off only for a "
            "plain-HTTP development server on loopback."
        ),
    )
    service_max_body_bytes: int = Field(
        65_536, ge=1024, description="Largest request body the service accepts (413 above)."
    )
    service_write_rate: float = Field(
        5.0,
        gt=0,
        description="Writes per second each API key or member may make on average (429 above).",
    )
    service_write_burst: int = Field(
        20,
        ge=1,
        description="Writes an API key or member may make at once before the rate applies.",
    )
    service_metrics_token: Path | None = Field(
        None,
        description=(
            "File with the bearer token a scraper must send to GET /metrics (compared in "
            "constant time; 401 without it). Unset: /metrics is open, like the health checks."
        ),
    )
    service_shutdown_seconds: int = Field(
        30,
        ge=1,
        description="On SIGTERM, how long `consentgate serve` waits for requests in flight.",
    )
    service_build_root: Path | None = Field(
        None,
        description=(
            "Directory under which builds started over HTTP (POST /api/v1/builds) read "
            "sources and write datasets; unset: builds over HTTP are refused."
        ),
    )
    service_build_queue: int = Field(
        4, ge=1, le=64, description="Builds over HTTP queued or running at once (429 above)."
    )
    exposure_statutes: Path | None = Field(
        None,
        description=(
            "YAML file of statutes with an amount per affected member by jurisdiction, for "
            "exposure reports; unset: the shipped consentgate/data/statutes.yaml."
        ),
    )

    @property
    def outbox_path(self) -> Path:
        """Where deletion notices go: ``outbox_dir``, or ``key_dir / "outbox"``."""
        return self.outbox_dir if self.outbox_dir is not None else self.key_dir / "outbox"

    @property
    def session_key_path(self) -> Path:
        """Where the session-cookie key is: ``service_session_key``, or ``key_dir / "session.key"``."""
        return (
            self.service_session_key
            if self.service_session_key is not None
            else self.key_dir / "session.key"
        )

    @property
    def signing_key_path(self) -> Path:
        """Where the log's signing key is: ``signing_key``, or ``key_dir / "log.key"``."""
        return self.signing_key if self.signing_key is not None else self.key_dir / "log.key"
