"""Forward-only 70/15/15 splits with a purge gap, and a walk-forward generator. Never shuffled."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Split", "forward_split", "walk_forward"]


@dataclass(frozen=True)
class Split:
    """Row ranges ``[start, stop)`` of train, validation and test, oldest first."""

    train: range
    validation: range
    test: range

    def as_dict(self) -> dict[str, list[int]]:
        """Return ``{"train": [start, stop], ...}`` for manifests."""
        return {
            k: [r.start, r.stop]
            for k, r in (("train", self.train), ("validation", self.validation), ("test", self.test))
        }


def forward_split(
    n_rows: int, *, train: float = 0.70, validation: float = 0.15, purge: int = 0, embargo: int = 0
) -> Split:
    """Split ``n_rows`` time-ordered rows into train, validation and test windows.

    ``purge`` rows are dropped after train and after validation, so no label of an earlier window
    (which looks ``purge`` = label-horizon rows ahead) overlaps a later window; ``embargo`` rows more
    are dropped after each gap.
    """
    if not 0 < train < 1 or not 0 < validation < 1 or train + validation >= 1:
        raise ValueError("train and validation must be fractions in (0, 1) that sum to less than 1")
    gap = purge + embargo
    usable = n_rows - 2 * gap
    n_train, n_val = int(usable * train), int(usable * validation)
    if min(n_train, n_val, usable - n_train - n_val) <= 0:
        raise ValueError(f"{n_rows} rows are too few for a {train:.0%}/{validation:.0%} split with gap {gap}")
    val_start = n_train + gap
    test_start = val_start + n_val + gap
    return Split(range(0, n_train), range(val_start, val_start + n_val), range(test_start, n_rows))


def walk_forward(
    n_rows: int, *, folds: int, train: int, test: int, purge: int = 0, expanding: bool = False
) -> Iterator[tuple[range, range]]:
    """Yield ``(train, test)`` row ranges that walk forward in time (rolling or expanding train window)."""
    step = test
    first_test = train + purge
    for k in range(folds):
        test_start = first_test + k * step
        if test_start + test > n_rows:
            return
        train_stop = test_start - purge
        train_start = 0 if expanding else train_stop - train
        yield range(train_start, train_stop), range(test_start, test_start + test)
