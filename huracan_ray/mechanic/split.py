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
    gap = _gap(purge, embargo)
    usable = n_rows - 2 * gap
    n_train, n_val = int(usable * train), int(usable * validation)
    if min(n_train, n_val, usable - n_train - n_val) <= 0:
        raise ValueError(f"{n_rows} rows are too few for a {train:.0%}/{validation:.0%} split with gap {gap}")
    val_start = n_train + gap
    test_start = val_start + n_val + gap
    return Split(range(0, n_train), range(val_start, val_start + n_val), range(test_start, n_rows))


def _gap(purge: int, embargo: int) -> int:
    """Return ``purge + embargo``, refusing a negative one (it would overlap a window with the next)."""
    if purge < 0 or embargo < 0:
        raise ValueError(f"purge and embargo must be >= 0 rows, got purge={purge}, embargo={embargo}")
    return int(purge) + int(embargo)


def walk_forward(
    n_rows: int, *, folds: int, train: int, test: int, purge: int = 0, embargo: int = 0, expanding: bool = False
) -> Iterator[tuple[range, range]]:
    """Return an iterator of ``(train, test)`` row ranges that walk forward in time (rolling or expanding train).

    Each test window starts ``purge + embargo`` rows after its train window ends (``purge`` = the label
    horizon, so no train label reaches into the test rows); consecutive test windows are adjacent. Yields
    at most ``folds`` folds, as many as fit in ``n_rows``; raises when not even one fits (e.g. a purge
    longer than the rows left for it) or when a window would be empty.
    """
    if folds < 1 or train < 1 or test < 1:
        raise ValueError(f"walk_forward needs folds, train and test >= 1, got {folds}, {train}, {test}")
    gap = _gap(purge, embargo)
    if train + gap + test > n_rows:
        raise ValueError(
            f"{n_rows} rows are too few for one walk-forward fold: train {train} + purge/embargo {gap} + test {test}"
        )
    return _folds(n_rows, folds, train, test, gap, expanding)


def _folds(n_rows: int, folds: int, train: int, test: int, gap: int, expanding: bool) -> Iterator[tuple[range, range]]:
    """Yield the folds of :func:`walk_forward` (arguments checked there)."""
    for k in range(folds):
        test_start = train + gap + k * test
        if test_start + test > n_rows:
            return
        train_stop = test_start - gap
        train_start = 0 if expanding else train_stop - train
        yield range(train_start, train_stop), range(test_start, test_start + test)
