"""Settings from the environment and the frozen base for component configs.

Everything a deployment changes lives in :class:`Settings` (environment prefix ``HURACAN_``).
Secrets are :class:`pydantic.SecretStr`: their ``repr`` and ``str`` are masked, so printing or
logging Settings never leaks a token. Component configs derive from :class:`FrozenConfig`: a typo
in a config is an error, not a silently ignored default.
"""

from __future__ import annotations

from pathlib import Path

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["FrozenConfig", "Settings", "default_brain_uri"]


class FrozenConfig(BaseModel):
    """Base class for component configs: immutable, hashable, unknown fields rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def default_brain_uri() -> str:
    """Return the embedded Brain root: ``file://<user data dir>/huracan/brain``."""
    return (Path(platformdirs.user_data_dir("huracan", appauthor=False)) / "brain").as_uri()


class Settings(BaseSettings):
    """Deployment settings, read from ``HURACAN_*`` environment variables (and an optional ``.env``)."""

    model_config = SettingsConfigDict(env_prefix="HURACAN_", env_file=None, extra="ignore", frozen=True)

    brain_uri: str = Field(default_factory=default_brain_uri, description="file:///path or s3://bucket/prefix")
    s3_endpoint_url: str | None = Field(default=None, description="S3/MinIO endpoint, e.g. http://minio:9000")
    s3_region: str = "us-east-1"
    s3_access_key_id: SecretStr | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_allow_http: bool | None = Field(default=None, description="default: true when the endpoint is http://")

    api_token: SecretStr | None = Field(default=None, description="bearer token Hamilton requires")

    slack_token: SecretStr | None = None
    slack_channel: str | None = None
    slack_base_url: str = "https://slack.com/api/"
    telegram_token: SecretStr | None = None
    telegram_chat_id: str | None = None
    telegram_base_url: str = "https://api.telegram.org"

    log_level: str = "INFO"

    @field_validator("brain_uri")
    @classmethod
    def _check_brain_uri(cls, value: str) -> str:
        if value.startswith(("file://", "s3://", "s3a://")):
            return value.rstrip("/")
        if "://" not in value:  # a bare path: make it a file URI
            return Path(value).expanduser().resolve().as_uri()
        raise ValueError(f"HURACAN_BRAIN_URI must be file://… or s3://bucket/prefix, got {value!r}")

    def storage_options(self) -> dict[str, str]:
        """Return deltalake/object_store storage options for the Brain root (empty for file://)."""
        if not self.brain_uri.startswith("s3"):
            return {}
        opts = {"AWS_REGION": self.s3_region}
        if self.s3_endpoint_url:
            opts["AWS_ENDPOINT_URL"] = self.s3_endpoint_url
            allow_http = self.s3_allow_http
            if allow_http is None:
                allow_http = self.s3_endpoint_url.startswith("http://")
            opts["AWS_ALLOW_HTTP"] = "true" if allow_http else "false"
        if self.s3_access_key_id is not None:
            opts["AWS_ACCESS_KEY_ID"] = self.s3_access_key_id.get_secret_value()
        if self.s3_secret_access_key is not None:
            opts["AWS_SECRET_ACCESS_KEY"] = self.s3_secret_access_key.get_secret_value()
        return opts
