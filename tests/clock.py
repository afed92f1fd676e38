"""The console's clock in tests: the real time plus an offset a test moves (Article 7's 30
and 60 days, a session's idle end)."""

from __future__ import annotations

import datetime


class Clock:
    def __init__(self) -> None:
        self.offset = datetime.timedelta()

    def __call__(self) -> datetime.datetime:
        return datetime.datetime.now(datetime.UTC) + self.offset
