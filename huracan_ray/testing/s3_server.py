"""A real S3 endpoint on loopback: moto's server, run as a subprocess.

Run out of process on purpose: with moto's in-process ``ThreadedMotoServer``, deltalake's
``history()`` and ``restore()`` hang until timeout.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from types import TracebackType

__all__ = ["S3TestServer"]

_ACCESS_KEY = "huracan-test"
_SECRET_KEY = "huracan-test-secret"  # a throwaway credential for a loopback test server only


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class S3TestServer:
    """Start moto's S3 server on 127.0.0.1 and hand out storage options for it."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, region: str = "us-east-1") -> None:
        self.host = host
        self.port = port
        self.region = region
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        """Return ``http://host:port``."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 30.0) -> S3TestServer:
        """Start the server and wait until it answers."""
        if self.port is None:
            self.port = _free_port(self.host)
        env = {**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"moto server exited with code {self._proc.returncode}")
            try:
                urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"moto server did not answer on {self.endpoint_url} within {timeout_s} s")

    def stop(self) -> None:
        """Stop the server."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        self._proc = None

    def __enter__(self) -> S3TestServer:
        return self.start()

    def __exit__(self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]) -> None:
        self.stop()

    def storage_options(self) -> dict[str, str]:
        """Return deltalake storage options for this endpoint."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ALLOW_HTTP": "true",
            "AWS_REGION": self.region,
            "AWS_ACCESS_KEY_ID": _ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": _SECRET_KEY,
        }

    def environment(self, bucket: str, prefix: str = "brain") -> dict[str, str]:
        """Return ``HURACAN_*`` variables pointing a Brain at ``s3://bucket/prefix`` on this server."""
        return {
            "HURACAN_BRAIN_URI": f"s3://{bucket}/{prefix}",
            "HURACAN_S3_ENDPOINT_URL": self.endpoint_url,
            "HURACAN_S3_REGION": self.region,
            "HURACAN_S3_ACCESS_KEY_ID": _ACCESS_KEY,
            "HURACAN_S3_SECRET_ACCESS_KEY": _SECRET_KEY,
        }

    def minio_client(self):
        """Return a ``minio.Minio`` client for this endpoint."""
        from minio import Minio

        return Minio(
            f"{self.host}:{self.port}",
            access_key=_ACCESS_KEY,
            secret_key=_SECRET_KEY,
            secure=False,
            region=self.region,
        )

    def create_bucket(self, bucket: str) -> None:
        """Create ``bucket`` (no error if it exists)."""
        client = self.minio_client()
        if not client.bucket_exists(bucket):
            client.make_bucket(bucket)
