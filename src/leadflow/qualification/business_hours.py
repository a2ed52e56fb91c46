"""Business-hours arithmetic for SLA clocks: a response time counts only the hours the business is open."""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class BusinessHours:
    """Open from `day_starts` to `day_ends` o'clock on `days` (Monday = 0), in `zone`."""

    day_starts: int
    day_ends: int
    days: Collection[int]
    zone: ZoneInfo

    def add(self, start: datetime, hours: float) -> datetime:
        """The moment when `hours` of business time have passed since `start` (a start outside business hours
        waits for the next opening)."""
        remaining = timedelta(hours=hours)
        local = start.astimezone(self.zone)
        for _ in range(366 * 10):
            day = local.date()
            if day.weekday() in self.days:
                opens = datetime.combine(day, time(self.day_starts), self.zone)
                closes = datetime.combine(day, time(), self.zone) + timedelta(hours=self.day_ends)
                begin = max(local, opens)
                if begin < closes:
                    if remaining <= closes - begin:
                        return (begin + remaining).astimezone(UTC)
                    remaining -= closes - begin
            local = datetime.combine(day + timedelta(days=1), time(), self.zone)
        raise ValueError("No business hours in the next ten years: check the business days.")
