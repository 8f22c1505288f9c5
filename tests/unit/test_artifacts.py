"""Content-addressed artifacts: hashes checked on load, tampering refused, no pickle."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from huracan_ray.brain import ArtifactIntegrityError, ArtifactNotFoundError, Brain
from huracan_ray.brain.storage import strip_scheme


def _tamper(brain: Brain, sha256: str, data: bytes) -> None:
    brain.artifacts.fs.pipe_file(strip_scheme(brain.artifacts.uri(sha256)), data)


def test_blob_round_trip_is_addressed_by_its_sha256(brain: Brain) -> None:
    data = b'{"weights": [1, 2, 3]}'
    ref = brain.artifacts.put_bytes(data)
    assert ref.sha256 == hashlib.sha256(data).hexdigest() and ref.kind == "blob" and ref.size == len(data)
    assert brain.artifacts.put_bytes(data) == ref  # idempotent
    assert brain.artifacts.get_bytes(ref.sha256) == data
    assert brain.artifacts.exists(ref.sha256)


def test_a_tampered_blob_is_refused(brain: Brain) -> None:
    ref = brain.artifacts.put_bytes(b"model weights v1")
    _tamper(brain, ref.sha256, b"model weights EVIL")
    with pytest.raises(ArtifactIntegrityError, match="tampered"):
        brain.artifacts.get_bytes(ref.sha256)


def test_a_missing_blob_is_a_clear_error(brain: Brain) -> None:
    with pytest.raises(ArtifactNotFoundError):
        brain.artifacts.get_bytes("0" * 64)
    with pytest.raises(ValueError, match="sha256"):
        brain.artifacts.get_bytes("../../etc/passwd")


def test_directory_round_trip_and_tampered_member_refused(brain: Brain, tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "card.json").write_text('{"name": "xgboost"}')
    (model / "sub" / "weights.safetensors").write_bytes(b"\x00\x01" * 100)
    ref = brain.artifacts.put_dir(model)
    assert ref.kind == "tree" and ref.size == len('{"name": "xgboost"}') + 200
    out = brain.artifacts.get_dir(ref.sha256, tmp_path / "restored")
    assert (out / "card.json").read_text() == '{"name": "xgboost"}'
    assert (out / "sub" / "weights.safetensors").read_bytes() == b"\x00\x01" * 100
    member = brain.artifacts.tree_manifest(ref.sha256)["sub/weights.safetensors"]
    _tamper(brain, member, b"\x00\x02" * 100)
    with pytest.raises(ArtifactIntegrityError):
        brain.artifacts.get_dir(ref.sha256, tmp_path / "again")


def test_a_manifest_with_an_escaping_path_is_refused(brain: Brain, tmp_path: Path) -> None:
    blob = brain.artifacts.put_bytes(b"payload")
    evil = json.dumps({"format": "huracan.tree.v1", "files": {"../../outside": blob.sha256}}).encode()
    ref = brain.artifacts.put_bytes(evil)
    with pytest.raises(ArtifactIntegrityError, match="unsafe path"):
        brain.artifacts.get_dir(ref.sha256, tmp_path / "x")
    assert not (tmp_path / "outside").exists()


@pytest.mark.integration
def test_s3_objects_are_visible_to_s3fs_and_minio(s3_server, tmp_path: Path) -> None:
    import s3fs
    from helpers.brain_writer import make_candles

    bucket = "brain-objects"
    s3_server.create_bucket(bucket)
    brain = Brain(f"s3://{bucket}/hr", s3_server.storage_options())
    version = brain.write("candles", make_candles(100))
    ref = brain.artifacts.put_bytes(b"policy bytes")

    opts = s3_server.storage_options()
    fs = s3fs.S3FileSystem(
        key=opts["AWS_ACCESS_KEY_ID"],
        secret=opts["AWS_SECRET_ACCESS_KEY"],
        endpoint_url=s3_server.endpoint_url,
        use_listings_cache=False,
    )
    log = fs.ls(f"{bucket}/hr/tables/candles/_delta_log")
    assert any(p.endswith(f"{version:020d}.json") for p in log)
    parquet = [p for p in fs.find(f"{bucket}/hr/tables/candles") if p.endswith(".parquet")]
    assert parquet and all("/date=2026-01-01/" in p for p in parquet)
    assert fs.cat_file(f"{bucket}/hr/artifacts/sha256/{ref.sha256[:2]}/{ref.sha256}") == b"policy bytes"

    client = s3_server.minio_client()
    names = {o.object_name for o in client.list_objects(bucket, prefix="hr/", recursive=True)}
    assert f"hr/artifacts/sha256/{ref.sha256[:2]}/{ref.sha256}" in names
    assert f"hr/tables/candles/_delta_log/{version:020d}.json" in names
    commit = client.get_object(bucket, f"hr/tables/candles/_delta_log/{version:020d}.json").read()
    assert b'"operation":"WRITE"' in commit  # the first rows of a table are provably new: the insert-only commit
