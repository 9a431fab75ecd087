"""Settings in one typed place: environment variables (UMKM_*), a `.env` file, or flags."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="UMKM_", env_file=".env", extra="ignore")

    # a folder (a Path), or a URL kept as written (a Path would fold `s3://b/p` into `s3:/b/p`)
    landing: Path | str = Field(
        Path("landing"),
        description="the landing area <landing>/<partner>/<date>/: a folder, s3://bucket/prefix "
        "or sftp://[user@]host[:port]/path (pipelines/intake/remote.py)",
    )
    landing_endpoint_url: str | None = Field(
        None,
        description="S3 endpoint of a non-AWS store (default: AWS_ENDPOINT_URL, the profile's)",
    )
    landing_credentials_block: str | None = Field(
        None,
        description="a Prefect block with the landing's credentials: AwsCredentials (S3), Secret "
        "(SFTP key or password); default: the AWS variables and profiles, an SSH agent, ~/.ssh",
    )
    landing_cache: Path | None = Field(
        None, description="local mirror of remote landing areas; default beside the warehouse"
    )
    contracts: Path = Field(
        Path(__file__).resolve().parent.parent / "schemas" / "partners",
        description="the partner contracts folder (<partner>.yaml each; pipelines/contracts.py)",
    )
    warehouse: Path = Field(Path("warehouse/umkm.duckdb"), description="the working DuckDB file")
    publish: Path = Field(Path("published/umkm.duckdb"), description="the DuckDB file BI reads")
    publish_mode: str = Field(
        "0644",
        pattern=r"^0?[0-7]{3}$",
        description="the published file's permissions (octal): aggregates only, read by BI users; "
        "everything else a run writes is owner-only",
    )
    pii_key: SecretStr | None = Field(None, description="pseudonymisation key (HMAC-SHA256)")
    staging: Path | None = Field(
        None, description="hand-off files between steps; default beside the warehouse"
    )
    max_file_bytes: int = Field(4 << 30, description="refuse a delivered file larger than this")
    max_day_bytes: int = Field(16 << 30, description="refuse a partner-day larger than this")
    max_uncompressed_bytes: int = Field(
        32 << 30, description="refuse a file that expands beyond this"
    )
    task_runner: Literal["threads", "dask"] = Field(
        "threads",
        description="where partner-days are staged: threads of the flow process, or a Dask cluster",
    )
    dask_address: str | None = Field(
        None, description="scheduler of an existing Dask cluster (default: a local one)"
    )
    workers: int = Field(
        2, ge=1, description="threads, or local Dask worker processes, staging partner-days"
    )
    writer_wait_seconds: float = Field(
        6 * 3600,
        ge=0,
        description="how long a run waits for another run's writer lock on the warehouse",
    )
    memory_limit: str = Field(
        "4GB",
        description="DuckDB's memory for a run's process (staging, loading); beyond it, it spills to disk",
    )
    large_day_bytes: int = Field(
        32 << 20,
        ge=0,
        description="a partner-day delivering more bytes than this stages alone in its process",
    )

    @field_validator("landing", mode="after")
    @classmethod
    def _folder_or_url(cls, value: Path | str) -> Path | str:
        return value if isinstance(value, Path) or "://" in value else Path(value)

    @property
    def staging_dir(self) -> Path:
        return self.staging or self.warehouse.parent / "staging"

    @property
    def gx_dir(self) -> Path:
        return self.warehouse.parent / "gx"

    def key_bytes(self) -> bytes:
        if self.pii_key is None or not self.pii_key.get_secret_value():
            raise KeyMissing(
                "UMKM_PII_KEY is not set: the pipeline refuses to read personal data without a "
                "pseudonymisation key (set it in the environment or a Prefect Secret block)"
            )
        return self.pii_key.get_secret_value().encode("utf-8")

    def key_check(self) -> str:
        """A value derived from the key that reveals nothing of it, to detect a changed key."""
        return hmac.new(self.key_bytes(), b"umkm-key-check-v1", hashlib.sha256).hexdigest()[:16]


class KeyMissing(RuntimeError):
    """No pseudonymisation key: a configuration error (exit status 2)."""
