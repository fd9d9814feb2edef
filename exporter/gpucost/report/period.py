"""The report's period: `--last`, `--month`, `--from/--to`, read in UTC or a named time zone.

A period is a half-open interval of instants [start, end): a sample taken exactly at `end`
belongs to the next period, so consecutive months never count a sample twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class PeriodError(ValueError):
    """A period flag that cannot be read, or a period that has no past in it."""


@dataclass(frozen=True)
class Period:
    """[start, end) in aware datetimes; `label` is how the user named it (for headers)."""

    start: datetime
    end: datetime
    label: str

    @property
    def seconds(self) -> float:
        """Length in seconds (elapsed time: a month with a DST change is an hour short or
        long; datetime subtraction within one zone would ignore that)."""
        return self.end.timestamp() - self.start.timestamp()


_DURATION = re.compile(r"(\d+)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str, flag: str) -> timedelta:
    """A Prometheus-style duration: `30d`, `12h`, `1w2d`, `90m` (units s, m, h, d, w)."""
    pos, seconds = 0, 0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        seconds += int(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise PeriodError(f"{flag}: expected a duration such as 30d, 12h or 1w, got {text!r}")
    if seconds <= 0:
        raise PeriodError(f"{flag}: must be longer than zero, got {text!r}")
    return timedelta(seconds=seconds)


def parse_tz(name: str) -> tzinfo:
    """`UTC` or an IANA zone name such as `Europe/Berlin`."""
    if name.upper() in {"UTC", "Z"}:
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PeriodError(f"--tz: unknown time zone {name!r} (use an IANA name such as "
                          f"Europe/Berlin, or UTC)") from None


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MONTH = re.compile(r"(\d{4})-(\d{2})")


def _instant(text: str, flag: str, tz: tzinfo) -> tuple[datetime, bool]:
    """An RFC 3339 timestamp, a local date-time, or a date (midnight in tz).

    Returns the instant and whether the text was a bare date.
    """
    if _DATE.fullmatch(text):
        try:
            d = date.fromisoformat(text)
        except ValueError:
            raise PeriodError(f"{flag}: not a calendar date: {text!r}") from None
        return datetime(d.year, d.month, d.day, tzinfo=tz), True
    try:
        # Python 3.10's fromisoformat does not read a trailing Z.
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise PeriodError(f"{flag}: expected RFC 3339 (2026-10-01T00:00:00Z) or a date "
                          f"(2026-10-01), got {text!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed, False


def month_period(text: str, tz: tzinfo) -> Period:
    """`--month YYYY-MM`: from the first of the month to the first of the next, midnight in tz."""
    m = _MONTH.fullmatch(text)
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise PeriodError(f"--month: expected YYYY-MM, got {text!r}")
    year, month = int(m.group(1)), int(m.group(2))
    nyear, nmonth = (year + 1, 1) if month == 12 else (year, month + 1)
    return Period(datetime(year, month, 1, tzinfo=tz), datetime(nyear, nmonth, 1, tzinfo=tz),
                  f"month {text}")


def resolve_period(*, last: str | None, month: str | None, start: str | None,
                   end: str | None, tz: tzinfo, now: datetime) -> Period:
    """Read the period flags; exactly one form may be given (default `--last 30d`).

    A bare date in `--to` includes that whole day: `--from 2026-10-01 --to 2026-10-31` is
    October. A period reaching past `now` is cut at `now`; one starting at or after `now`
    is an error.
    """
    given = [flag for flag, value in (("--last", last), ("--month", month), ("--from", start))
             if value is not None]
    if len(given) > 1:
        raise PeriodError(f"{given[0]} and {given[1]} cannot be combined: give one period")
    if end is not None and start is None:
        raise PeriodError("--to needs --from")
    now = now.astimezone(timezone.utc).replace(microsecond=0)
    if month is not None:
        period = month_period(month, tz)
    elif start is not None:
        begin, _ = _instant(start, "--from", tz)
        if end is None:
            finish, label_end = now, "now"
        else:
            finish, bare = _instant(end, "--to", tz)
            if bare:
                finish = datetime.combine(finish.date() + timedelta(days=1), finish.timetz())
            label_end = end
        period = Period(begin, finish, f"{start} to {label_end}")
        _not_future(period, now)
        if finish <= begin:
            raise PeriodError(f"--to ({end}) must be after --from ({start})")
    else:
        span = last if last is not None else "30d"
        period = Period(now - parse_duration(span, "--last"), now, f"last {span}")
    _not_future(period, now)
    if period.end > now:
        period = Period(period.start, now, f"{period.label} (up to now)")
    return period


def _not_future(period: Period, now: datetime) -> None:
    if period.start >= now:
        raise PeriodError(f"the period {period.label} starts in the future "
                          f"({period.start.isoformat()}; now is {now.isoformat()})")
