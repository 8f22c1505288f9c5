"""A fast test of primary-key uniqueness, shared by the Brain's writer and the ingest validation.

Rows from one venue fetch or one ingest batch almost never repeat a key, and grouping them all
(Arrow's hash group-by over string columns) to prove it costs more than the rest of the work. Key
columns are coded as integers (strings dictionary-encoded) and compared in one pass when the rows
are already in key order, with a lexsort otherwise.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["keys_unique", "keys_unique_across"]


def _is_string(field: pa.Field) -> bool:
    return pa.types.is_string(field.type) or pa.types.is_large_string(field.type)


def _one_value(column: pa.ChunkedArray) -> bool:
    """Return whether ``column`` holds one value, no null, in every row (it tells no rows apart)."""
    return len(column) > 0 and not column.null_count and bool(pc.all(pc.equal(column, column[0])).as_py())


def _key_codes(table: pa.Table, key: tuple[str, ...]) -> list[np.ndarray] | None:
    """Return one int64 array per key column (strings dictionary-coded), or None for other key types.

    A string column of one value (the exchange and symbol of one venue fetch) is left out: it tells no
    rows apart, and checking that is cheaper than coding it.
    """
    codes = []
    for name in key:
        column = table.column(name)
        if _is_string(table.schema.field(name)):
            if _one_value(column):
                continue
            column = pc.dictionary_encode(column.combine_chunks()).indices
        elif not (pa.types.is_integer(column.type) or pa.types.is_timestamp(column.type)):
            return None
        if column.null_count:
            return None
        codes.append(np.asarray(pc.cast(column, pa.int64(), safe=False)))
    return codes


def keys_unique(table: pa.Table, key: tuple[str, ...]) -> bool:
    """Return True when no row repeats another's ``key`` (O(n) for key-sorted rows, a lexsort otherwise).

    Returns False when it cannot tell cheaply (a null in the key, or a key column that is neither a
    string, an integer nor a timestamp): callers then take their general path.
    """
    codes = _key_codes(table, key)
    if codes is None or table.num_rows < 2:
        return table.num_rows < 2
    same = np.ones(table.num_rows - 1, dtype=bool)
    ordered = True
    for c in codes:  # lexicographic order check, most significant column first
        step = np.diff(c)
        ordered &= bool(np.all(step[same] >= 0))
        same &= step == 0
    if ordered:
        return not same.any()
    order = np.lexsort(codes[::-1])
    same = np.ones(table.num_rows - 1, dtype=bool)
    for c in codes:
        same &= np.diff(c[order]) == 0
    return not same.any()


def _constant_key(table: pa.Table, key: tuple[str, ...]) -> tuple[object, ...] | None:
    """Return the values of ``table``'s string key columns when each holds one value, else None."""
    values = []
    for name in (n for n in key if _is_string(table.schema.field(n))):
        column = table.column(name)
        if not _one_value(column):
            return None
        values.append(column[0].as_py())
    return tuple(values)


def keys_unique_across(tables: list[pa.Table], key: tuple[str, ...]) -> bool:
    """Return :func:`keys_unique` of ``tables`` (one schema) concatenated, cheaply for venue fetches.

    Tables whose string key columns each hold one value (one fetch: one exchange, one symbol) are
    grouped by those values: rows of different groups cannot share a key, so each group's rows are
    checked together on the other key columns only. Coding every string of the concatenation, which
    this avoids, cost most of the check. Any table that is not so sends everything to :func:`keys_unique`.
    """
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return True
    groups: dict[tuple[object, ...], list[pa.Table]] = {}
    for table in tables:
        constant = _constant_key(table, key)
        if constant is None:
            return keys_unique(pa.concat_tables(tables), key)
        groups.setdefault(constant, []).append(table)
    rest = tuple(name for name in key if not _is_string(tables[0].schema.field(name)))
    for group in groups.values():
        if not rest:  # every row of the group has the same key
            if sum(t.num_rows for t in group) > 1:
                return False
            continue
        if not keys_unique(pa.concat_tables([t.select(list(rest)) for t in group]), rest):
            return False
    return True
