"""Fixtures shared by the ingest tests against the loopback fake exchange."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from huracan_ray.testing.fake_exchange import FakeExchange
from huracan_ray.testing.synthetic import SyntheticMarket


@pytest.fixture(scope="module")
def fake(market: SyntheticMarket) -> Iterator[FakeExchange]:
    """One fake exchange per module, serving that module's own ``market`` fixture."""
    with FakeExchange(market) as server:
        yield server


@pytest.fixture
def clean_fake(fake: FakeExchange) -> Iterator[FakeExchange]:
    """``fake`` with no faults and no recorded requests when the test starts, and no faults left after it."""
    fake.clear_faults()
    fake.clear_requests()
    yield fake
    fake.clear_faults()
