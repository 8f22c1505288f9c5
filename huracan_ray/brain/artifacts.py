"""Content-addressed artifacts (model weights, policies, reports) under the Brain root.

A blob lives at ``artifacts/sha256/<first two hex>/<sha256>``: its address is its hash, so a
stored blob never changes and :meth:`ArtifactStore.get_bytes` refuses any blob whose content no
longer hashes to its address. A directory (a saved model: weights + card) is stored as a *tree*:
a JSON manifest blob mapping relative paths to blob hashes, addressed by the manifest's own hash.
Nothing here unpickles anything.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from huracan_ray.brain.errors import ArtifactIntegrityError, ArtifactNotFoundError
from huracan_ray.brain.storage import filesystem, join_uri, strip_scheme

__all__ = ["ArtifactRef", "ArtifactStore"]

_TREE_FORMAT = "huracan.tree.v1"


@dataclass(frozen=True)
class ArtifactRef:
    """The address of a stored artifact: its sha256 and whether it is a blob or a tree."""

    sha256: str
    kind: str  # "blob" | "tree"
    size: int


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check_hex(sha256: str) -> str:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return sha256


def _safe_relpath(path: str) -> PurePosixPath:
    rel = PurePosixPath(path)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise ArtifactIntegrityError(f"tree manifest names an unsafe path {path!r}")
    return rel


class ArtifactStore:
    """Store and load content-addressed artifacts under ``root`` (file:// or s3://)."""

    def __init__(self, root: str, storage_options: dict[str, str] | None = None) -> None:
        self.root = root.rstrip("/")
        self.storage_options = dict(storage_options or {})
        self._fs = None

    def __repr__(self) -> str:
        return f"ArtifactStore({self.root!r})"

    @property
    def fs(self):
        """Return the fsspec filesystem (made on first use)."""
        if self._fs is None:
            self._fs = filesystem(self.root, self.storage_options)
        return self._fs

    def uri(self, sha256: str) -> str:
        """Return the URI of the blob ``sha256``."""
        _check_hex(sha256)
        return join_uri(self.root, "sha256", sha256[:2], sha256)

    def _path(self, sha256: str) -> str:
        return strip_scheme(self.uri(sha256))

    def exists(self, sha256: str) -> bool:
        """Return True when blob ``sha256`` is stored."""
        return self.fs.exists(self._path(sha256))

    # -- blobs --------------------------------------------------------------------------------------
    def put_bytes(self, data: bytes) -> ArtifactRef:
        """Store ``data`` and return its address; storing the same bytes twice is a no-op."""
        sha = _sha256(data)
        path = self._path(sha)
        if not self.fs.exists(path):
            if self.root.startswith("file://"):
                # Write then rename: a crash never leaves a partial blob at the final address.
                tmp = f"{path}.{uuid.uuid4().hex}.tmp"
                self.fs.pipe_file(tmp, data)
                os.replace(tmp, path)
            else:
                self.fs.pipe_file(path, data)  # one S3 PUT is atomic
        return ArtifactRef(sha, "blob", len(data))

    def put_file(self, path: Path) -> ArtifactRef:
        """Store the file at ``path``."""
        return self.put_bytes(Path(path).read_bytes())

    def get_bytes(self, sha256: str) -> bytes:
        """Return blob ``sha256`` after checking its hash; raise ArtifactIntegrityError if it differs."""
        path = self._path(sha256)
        try:
            data = self.fs.cat_file(path)
        except FileNotFoundError:
            raise ArtifactNotFoundError(f"no artifact {sha256} under {self.root}") from None
        actual = _sha256(data)
        if actual != sha256:
            raise ArtifactIntegrityError(
                f"artifact {sha256} is corrupt or was tampered with: its content hashes to {actual}; refusing to load"
            )
        return data

    # -- trees (directories) ------------------------------------------------------------------------
    def put_dir(self, directory: Path) -> ArtifactRef:
        """Store every file under ``directory`` and a manifest; return the manifest's address."""
        directory = Path(directory)
        files: dict[str, str] = {}
        total = 0
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            ref = self.put_file(path)
            files[path.relative_to(directory).as_posix()] = ref.sha256
            total += ref.size
        manifest = json.dumps({"format": _TREE_FORMAT, "files": files}, sort_keys=True).encode()
        ref = self.put_bytes(manifest)
        return ArtifactRef(ref.sha256, "tree", total)

    def tree_manifest(self, sha256: str) -> dict[str, str]:
        """Return {relative path: blob sha256} of tree ``sha256`` (verified)."""
        try:
            manifest = json.loads(self.get_bytes(sha256))
        except json.JSONDecodeError:
            raise ArtifactIntegrityError(f"artifact {sha256} is not a tree manifest") from None
        if not isinstance(manifest, dict) or manifest.get("format") != _TREE_FORMAT:
            raise ArtifactIntegrityError(f"artifact {sha256} is not a tree manifest")
        return {str(_safe_relpath(k)): _check_hex(v) for k, v in manifest["files"].items()}

    def get_dir(self, sha256: str, destination: Path) -> Path:
        """Materialise tree ``sha256`` into ``destination``, verifying every file; return it."""
        destination = Path(destination)
        for rel, blob in self.tree_manifest(sha256).items():
            target = destination / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self.get_bytes(blob))
        return destination
