"""The UTC date of a timestamp, by integer division, is exactly what Arrow's cast to ``date32`` gives."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from huracan_ray.brain.conform import utc_dates

_DAY_IN = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}
_SPAN = {"s": 10**10, "ms": 10**13, "us": 10**16, "ns": 10**18}  # ± ~300 years around 1970, within ns range


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("tz", ["UTC", "+00:00", "Etc/UTC", "Asia/Tokyo", "America/New_York"])
def test_utc_dates_equal_the_arrow_cast_with_nulls_slices_and_times_before_1970(unit: str, tz: str) -> None:
    rng = np.random.default_rng(7)
    values = rng.integers(-_SPAN[unit] // 4, _SPAN[unit] // 4, 20_000)
    values[:4] = [-1, 0, 1, _DAY_IN[unit] - 1]  # the instants either side of midnight 1970-01-01
    plain = pa.array(values, pa.int64()).cast(pa.timestamp(unit, tz))
    holed = pa.array(values, pa.int64(), mask=rng.random(values.size) < 0.1).cast(pa.timestamp(unit, tz))
    times = pa.chunked_array([plain.slice(3, 500), holed.slice(11), holed.slice(0, 0)])
    assert utc_dates(times).equals(pc.cast(times, pa.date32()))
