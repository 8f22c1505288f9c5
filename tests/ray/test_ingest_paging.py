"""Funding and open-interest history over windows longer than one venue page, through the whole ingest.

Real ccxt clients against the loopback fake exchange (which serves each venue's real page caps) →
Ray tasks → validation → a file:// Brain, one unit per series so that the source itself must page:
every row arrives once, in time, with its value, and nothing is logged.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from huracan_ray.brain import Brain
from huracan_ray.data.ingest import IngestConfig, run_ingest
from huracan_ray.data.sources import DataKind
from huracan_ray.data.sources.ccxt_venues import VENUES as SPECS
from huracan_ray.testing.fake_exchange import FakeExchange
from huracan_ray.testing.synthetic import SyntheticMarket, SyntheticMarketConfig

pytestmark = [pytest.mark.ray, pytest.mark.integration, pytest.mark.slow]

SYMBOL = "BTC/USDT:USDT"
VENUES = ("binance", "bybit", "okx")
PATHS = {
    DataKind.FUNDING_RATES: {"binance": "fundingRate", "bybit": "funding/history", "okx": "funding-rate-history"},
    DataKind.OPEN_INTEREST: {"binance": "openInterestHist", "bybit": "open-interest", "okx": "open-interest-history"},
}
DAYS = 340
"""Funding every 8 h: 1,020 rows, more than binance's page of 1,000 (bybit's 200, okx's 100)."""


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeExchange]:
    start = (datetime.now(UTC) - timedelta(days=DAYS + 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    market = SyntheticMarket(SyntheticMarketConfig(start=start, days=DAYS, symbols=(SYMBOL,), exchanges=VENUES))
    with FakeExchange(market, now=market.config.end) as server:  # binance serves the last 30 days of open interest
        # the market ends before the real now: sources leave out rows not yet final by the local clock
        yield server


def _ingest(fake: FakeExchange, brain_uri: str, kind: DataKind, start: datetime, end: datetime) -> None:
    source = {"base_url": fake.base_url, "rate_limit": False, "timeout_ms": 5000,
              "retry": {"max_attempts": 3, "base_delay_s": 0.01, "jitter": 0.0}}  # fmt: skip
    config = IngestConfig(
        source="binance", source_config=source, symbols=(SYMBOL,), exchanges=VENUES, kinds=(kind,),
        start=start, end=end, chunk=end - start, workers=2,
    )  # fmt: skip
    fake.clear_requests()
    run_ingest(brain_uri, None, config)


def _assert_every_row_once(
    fake: FakeExchange, brain: Brain, kind: DataKind, column: str, start: datetime, end: datetime
) -> None:
    for venue in VENUES:
        got = brain.read(str(kind), exchange=venue).sort_by("timestamp")
        want = fake.market.fetch(str(kind), SYMBOL, start, end, venue)
        times = pc.cast(got.column("timestamp"), pa.int64()).to_pylist()
        assert times == pc.cast(want.column("timestamp"), pa.int64()).to_pylist(), venue  # each once, none missing
        assert got.column(column).to_pylist() == pytest.approx(want.column(column).to_pylist(), rel=1e-12)
        page = SPECS[venue].kinds[kind].page_limit  # what we ask for: the venue's cap, or less
        pages = len(fake.requests_to(PATHS[kind][venue], venue))
        assert pages == -(-got.num_rows // page) > 1, venue  # one request per page, several pages
    assert brain.count("data_quality_logs") == 0 and brain.count("quarantine") == 0


@pytest.mark.usefixtures("ray_cluster")
def test_funding_history_pages_past_every_venues_page_cap(fake: FakeExchange, tmp_brain_uri: str) -> None:
    start, end = fake.market.config.start, fake.market.config.end
    _ingest(fake, tmp_brain_uri, DataKind.FUNDING_RATES, start, end)
    brain = Brain(tmp_brain_uri)
    assert brain.count("funding_rates") == 3 * DAYS * 3
    _assert_every_row_once(fake, brain, DataKind.FUNDING_RATES, "funding_rate", start, end)


@pytest.mark.usefixtures("ray_cluster")
def test_open_interest_history_pages_past_every_venues_page_cap(fake: FakeExchange, tmp_brain_uri: str) -> None:
    end = fake.market.config.end
    start = end - timedelta(days=2)  # 576 five-minute rows: more than binance's page of 500, within its 30 days
    _ingest(fake, tmp_brain_uri, DataKind.OPEN_INTEREST, start, end)
    brain = Brain(tmp_brain_uri)
    assert brain.count("open_interest") == 3 * 576
    _assert_every_row_once(fake, brain, DataKind.OPEN_INTEREST, "open_interest", start, end)
