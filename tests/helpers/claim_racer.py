"""A scheduler stand-in for the claim race test: claim slots of one job and print the ones won.

Run as ``python claim_racer.py URI OWNER SLOTS GO_FILE``: prints ``ready`` once imported, waits for
``GO_FILE`` to exist (so two racers start together), then claims daily slots 0..SLOTS-1 of job
``race`` through the real ledger and prints the won slot indexes as JSON.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from huracan_ray.brain import Brain
from huracan_ray.scheduler.ledger import RunLedger
from huracan_ray.scheduler.plan import Decision

FIRST = datetime(2026, 1, 1, tzinfo=UTC)


def main() -> None:
    uri, owner, slots, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    ledger = RunLedger(Brain(uri), owner)
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.005)
    won = []
    for i in range(slots):
        slot = FIRST + timedelta(days=i)
        if ledger.claim(Decision("race", slot, "run"), datetime.now(UTC)) is not None:
            won.append(i)
    print(json.dumps({"won": won, "conflicts": ledger.brain.commit_conflicts}))


if __name__ == "__main__":
    main()
