"""Log lines in the Prometheus exporters' formats: `--log.format logfmt|json`, `--log.level`.

Like node_exporter and Prometheus (promslog), every line carries `time` (RFC 3339, UTC,
milliseconds), `level` (DEBUG, INFO, WARN, ERROR), the logger and `msg`:

    time=2026-11-30T10:33:00.123Z level=WARN logger=gpucost.state msg="Node n1 left out ..."
    {"time":"2026-11-30T10:33:00.123Z","level":"WARN","logger":"gpucost.state","msg":"..."}
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import TextIO

#: --log.level values, as Prometheus spells them; `warning` is kept as an alias of `warn`.
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
          "warning": logging.WARNING, "error": logging.ERROR}
FORMATS = ("logfmt", "json")
_LEVEL_NAMES = {logging.DEBUG: "DEBUG", logging.INFO: "INFO", logging.WARNING: "WARN",
                logging.ERROR: "ERROR", logging.CRITICAL: "ERROR"}


def rfc3339(unix_seconds: float) -> str:
    """`2026-11-30T10:33:00.123Z` for a Unix time in seconds (UTC, milliseconds)."""
    moment = datetime.fromtimestamp(unix_seconds, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _fields(record: logging.LogRecord) -> dict[str, str]:
    msg = record.getMessage()
    if record.exc_info:
        # A traceback belongs in the same record (one line per record), not on lines of its own.
        msg += "\n" + logging.Formatter().formatException(record.exc_info)
    return {
        "time": rfc3339(record.created),
        "level": _LEVEL_NAMES.get(record.levelno, record.levelname),
        "logger": record.name,
        "msg": msg,
    }


def _logfmt_value(value: str) -> str:
    if value and not any(c in value for c in ' ="\\\n\t') and value.isprintable():
        return value
    return json.dumps(value, ensure_ascii=False)  # a quoted string with \" \\ \n escapes


class LogfmtFormatter(logging.Formatter):
    """`key=value` pairs; values with spaces, quotes or `=` are double-quoted and escaped."""

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{k}={_logfmt_value(v)}" for k, v in _fields(record).items())


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(record), ensure_ascii=False)


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to `stream`, or to whatever sys.stderr is at the time of each record."""

    def __init__(self, stream: TextIO | None) -> None:
        super().__init__(stream if stream is not None else sys.stderr)
        self._follow_stderr = stream is None

    def emit(self, record: logging.LogRecord) -> None:
        if self._follow_stderr:
            self.stream = sys.stderr
        super().emit(record)


def configure(level: str = "info", fmt: str = "logfmt", stream: TextIO | None = None) -> None:
    """Send every log record to `stream` (default stderr) in `fmt`, at `level` and above."""
    handler = _Handler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else LogfmtFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):  # configure() again (main() twice in a test) replaces, not adds
        if isinstance(old, _Handler):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(LEVELS[level])
