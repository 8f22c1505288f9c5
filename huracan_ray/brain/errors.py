"""The Brain's domain errors: each says which table, column or artifact is at fault."""

from __future__ import annotations

__all__ = ["ArtifactIntegrityError", "ArtifactNotFoundError", "BrainError", "SchemaMismatchError"]


class BrainError(Exception):
    """Base class of every Brain error."""


class SchemaMismatchError(BrainError, ValueError):
    """A write's schema does not match the table's declaration; nothing was written."""

    def __init__(self, table: str, column: str, problem: str) -> None:
        self.table = table
        self.column = column
        self.problem = problem
        super().__init__(f"table {table!r}, column {column!r}: {problem}")


class ArtifactNotFoundError(BrainError, FileNotFoundError):
    """No artifact with that sha256 is stored under the Brain root."""


class ArtifactIntegrityError(BrainError):
    """A stored artifact's content does not hash to its address: it was altered or truncated."""
