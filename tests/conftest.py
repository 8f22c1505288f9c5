"""Shared fixtures: one local Ray cluster per test session, temporary Brains."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    """Start one local Ray cluster (2 CPUs) for the whole session; shut it down at the end.

    Never ``ray stop``: it kills every Ray process on the machine, not just ours.
    """
    import ray

    tmp = tempfile.mkdtemp(prefix="hr-", dir="/tmp")  # short: Ray's unix sockets have a path limit
    os.environ.setdefault("RAY_TMPDIR", tmp)
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        configure_logging=False,
        log_to_driver=False,
        _temp_dir=tmp,
        ignore_reinit_error=True,
    )
    yield
    ray.shutdown()


@pytest.fixture
def tmp_brain_uri(tmp_path: Path) -> str:
    """Return a fresh file:// Brain root."""
    return (tmp_path / "brain").as_uri()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[object]:
    """Run one moto S3 server subprocess on loopback for the session."""
    from huracan_ray.testing.s3_server import S3TestServer

    with S3TestServer() as server:
        yield server


_bucket_counter = iter(range(1_000_000))


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.integration)])
def brain(request: pytest.FixtureRequest, tmp_path: Path):
    """Return an empty Brain on file:// and on the loopback S3 endpoint."""
    from huracan_ray.brain import Brain

    if request.param == "file":
        return Brain((tmp_path / "brain").as_uri())
    server = request.getfixturevalue("s3_server")
    bucket = f"brain-{next(_bucket_counter)}"
    server.create_bucket(bucket)
    return Brain(f"s3://{bucket}/root", server.storage_options())
