"""The Brain Library: Delta Lake tables and content-addressed artifacts under one root URI."""

from huracan_ray.brain.artifacts import ArtifactRef, ArtifactStore
from huracan_ray.brain.errors import (
    ArtifactIntegrityError,
    ArtifactNotFoundError,
    BrainError,
    SchemaMismatchError,
)
from huracan_ray.brain.library import Brain, TableInfo
from huracan_ray.brain.tables import TABLES, TableSpec, table_spec

__all__ = [
    "TABLES",
    "ArtifactIntegrityError",
    "ArtifactNotFoundError",
    "ArtifactRef",
    "ArtifactStore",
    "Brain",
    "BrainError",
    "SchemaMismatchError",
    "TableInfo",
    "TableSpec",
    "table_spec",
]
