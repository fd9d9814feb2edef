"""gpucost-report's period flags: months, time zones, dates, durations, the future."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from gpucost.report.period import PeriodError, parse_tz, resolve_period

UTC = timezone.utc
NOW = datetime(2025, 11, 14, 15, 30, 45, 123456, tzinfo=UTC)


def _z(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


PERIODS = [
    # (flags, tz, start, end) -- start and end in UTC, worked out by hand
    ({"month": "2025-02"}, "UTC", _z(2025, 2, 1), _z(2025, 3, 1)),  # 28 days
    ({"month": "2024-02"}, "UTC", _z(2024, 2, 1), _z(2024, 3, 1)),  # leap year: 29 days
    ({"month": "2024-12"}, "UTC", _z(2024, 12, 1), _z(2025, 1, 1)),  # year boundary
    # Berlin is UTC+1 in winter, UTC+2 from 2025-03-30: March is 743 hours long there.
    ({"month": "2025-03"}, "Europe/Berlin", _z(2025, 2, 28, 23), _z(2025, 3, 31, 22)),
    # New York is UTC-4 until 2025-11-02: October runs 04:00Z to 04:00Z.
    ({"month": "2025-10"}, "America/New_York", _z(2025, 10, 1, 4), _z(2025, 11, 1, 4)),
    # --last counts back from now, to the whole second.
    ({"last": "30d"}, "UTC", _z(2025, 10, 15, 15, 30, 45), _z(2025, 11, 14, 15, 30, 45)),
    ({"last": "1w2d"}, "UTC", _z(2025, 11, 5, 15, 30, 45), _z(2025, 11, 14, 15, 30, 45)),
    ({"last": "90m"}, "UTC", _z(2025, 11, 14, 14, 0, 45), _z(2025, 11, 14, 15, 30, 45)),
    ({}, "UTC", _z(2025, 10, 15, 15, 30, 45), _z(2025, 11, 14, 15, 30, 45)),  # default 30d
    # A date in --to includes that day; a timestamp is exclusive.
    ({"start": "2025-10-01", "end": "2025-10-31"}, "UTC", _z(2025, 10, 1), _z(2025, 11, 1)),
    ({"start": "2025-10-01", "end": "2025-10-31T00:00:00Z"}, "UTC", _z(2025, 10, 1), _z(2025, 10, 31)),
    ({"start": "2025-10-01", "end": "2025-10-01"}, "Asia/Tokyo", _z(2025, 9, 30, 15), _z(2025, 10, 1, 15)),
    # RFC 3339 offsets win over --tz; local date-times take --tz.
    ({"start": "2025-10-01T12:00:00+02:00", "end": "2025-10-02T00:00:00Z"}, "Asia/Tokyo",
     _z(2025, 10, 1, 10), _z(2025, 10, 2)),
    ({"start": "2025-10-01T12:00:00", "end": "2025-10-01T18:00"}, "Europe/Berlin",
     _z(2025, 10, 1, 10), _z(2025, 10, 1, 16)),
    # No --to: up to now.
    ({"start": "2025-11-14"}, "UTC", _z(2025, 11, 14), _z(2025, 11, 14, 15, 30, 45)),
    # The current month is cut at now.
    ({"month": "2025-11"}, "UTC", _z(2025, 11, 1), _z(2025, 11, 14, 15, 30, 45)),
]


@pytest.mark.parametrize(("flags", "tz", "start", "end"), PERIODS,
                         ids=[f"{f}-{tz}" for f, tz, _, _ in PERIODS])
def test_periods(flags: dict[str, str], tz: str, start: datetime, end: datetime) -> None:
    args = {"last": None, "month": None, "start": None, "end": None, **flags}
    period = resolve_period(**args, tz=parse_tz(tz), now=NOW)
    assert (period.start, period.end) == (start, end)
    assert period.seconds == (end - start).total_seconds()


def test_a_month_in_progress_says_so() -> None:
    period = resolve_period(last=None, month="2025-11", start=None, end=None, tz=UTC, now=NOW)
    assert period.label == "month 2025-11 (up to now)"


ERRORS = [
    ({"month": "2025-13"}, "UTC", "--month: expected YYYY-MM, got '2025-13'"),
    ({"month": "2025-1"}, "UTC", "--month: expected YYYY-MM, got '2025-1'"),
    ({"last": "0d"}, "UTC", "--last: must be longer than zero, got '0d'"),
    ({"last": "30days"}, "UTC", "--last: expected a duration such as 30d, 12h or 1w, got '30days'"),
    ({"last": "-5d"}, "UTC", "--last: expected a duration"),
    ({"end": "2025-10-01"}, "UTC", "--to needs --from"),
    ({"last": "7d", "month": "2025-10"}, "UTC", "--last and --month cannot be combined"),
    ({"start": "2025-10-05", "end": "2025-10-01"}, "UTC", "--to (2025-10-01) must be after --from (2025-10-05)"),
    ({"start": "2025-02-30"}, "UTC", "--from: not a calendar date: '2025-02-30'"),
    ({"start": "yesterday"}, "UTC", "--from: expected RFC 3339 (2026-10-01T00:00:00Z) or a date"),
    ({"month": "2025-12"}, "UTC", "the period month 2025-12 starts in the future (2025-12-01T00:00:00+00:00; "
                                  "now is 2025-11-14T15:30:45+00:00)"),
    ({"start": "2025-11-14T15:30:45Z"}, "UTC", "starts in the future"),  # start == now: empty
]


@pytest.mark.parametrize(("flags", "tz", "message"), ERRORS, ids=[str(f) for f, _, _ in ERRORS])
def test_period_errors(flags: dict[str, str], tz: str, message: str) -> None:
    args = {"last": None, "month": None, "start": None, "end": None, **flags}
    with pytest.raises(PeriodError) as info:
        resolve_period(**args, tz=parse_tz(tz), now=NOW)
    assert message in str(info.value)


def test_unknown_time_zone() -> None:
    with pytest.raises(PeriodError, match=r"--tz: unknown time zone 'Mars/Olympus'"):
        parse_tz("Mars/Olympus")
