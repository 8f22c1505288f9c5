"""Settings come from HURACAN_* variables; secrets never print."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from huracan_ray.config import FrozenConfig, Settings


def test_defaults_point_at_an_embedded_file_brain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HURACAN_BRAIN_URI", raising=False)
    settings = Settings()
    assert settings.brain_uri.startswith("file://") and settings.brain_uri.endswith("/huracan/brain")
    assert settings.storage_options() == {}


def test_secrets_are_read_from_the_environment_and_never_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HURACAN_API_TOKEN", "tok-123-secret")
    monkeypatch.setenv("HURACAN_SLACK_TOKEN", "xoxb-very-secret")
    monkeypatch.setenv("HURACAN_S3_SECRET_ACCESS_KEY", "aws-secret")
    settings = Settings()
    text = repr(settings) + str(settings) + settings.model_dump_json()
    for secret in ("tok-123-secret", "xoxb-very-secret", "aws-secret"):
        assert secret not in text
    assert settings.api_token is not None and settings.api_token.get_secret_value() == "tok-123-secret"


def test_s3_storage_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HURACAN_BRAIN_URI", "s3://bucket/prefix/")
    monkeypatch.setenv("HURACAN_S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("HURACAN_S3_ACCESS_KEY_ID", "key")
    monkeypatch.setenv("HURACAN_S3_SECRET_ACCESS_KEY", "secret")
    settings = Settings()
    assert settings.brain_uri == "s3://bucket/prefix"
    assert settings.storage_options() == {
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": "key",
        "AWS_SECRET_ACCESS_KEY": "secret",
    }


def test_bare_paths_become_file_uris_and_other_schemes_are_rejected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HURACAN_BRAIN_URI", str(tmp_path))
    assert Settings().brain_uri == tmp_path.as_uri()
    monkeypatch.setenv("HURACAN_BRAIN_URI", "gs://bucket")
    with pytest.raises(ValidationError, match="HURACAN_BRAIN_URI"):
        Settings()


def test_component_configs_are_frozen_and_reject_typos() -> None:
    class Example(FrozenConfig):
        window: int = 20

    with pytest.raises(ValidationError):
        Example(windw=5)
    cfg = Example()
    with pytest.raises(ValidationError):
        cfg.window = 3  # type: ignore[misc]
    assert hash(cfg) == hash(Example())
