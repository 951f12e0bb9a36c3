"""Registered in ``CreditConfig.ready()``: a test clock crossing midnights computes the
days of its nodes and of the people they serve (the daily job, on the clock's time)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sandbox.events import clocks
from wallets.credit import services


@clocks.on_clock_move
def compute_crossed_days(*, clock_id: Any, start: datetime, end: datetime) -> None:
    services.standings_compute_clock_days(clock_id=clock_id, start=start, end=end)
