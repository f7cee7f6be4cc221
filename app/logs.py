"""Logging: JSON lines on stdout (text for local development), the request id on every line."""

import json
import logging
import sys
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

# The id of the request being handled, for every log line written while handling it.
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def utc_time(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")


class RequestIdFilter(logging.Filter):
    """Stamp each record with the current request id (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the request id in a request."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": utc_time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid:
            line["request_id"] = rid
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    """Human-readable lines for a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        text = text_line(record.created, record.levelname, record.name, record.getMessage())
        rid = getattr(record, "request_id", None)
        if rid:
            text = f"{text} [{rid}]"
        if record.exc_info:
            text = f"{text}\n{self.formatException(record.exc_info)}"
        return text


def text_line(timestamp: float, level: str, logger: str, message: str) -> str:
    return f"{utc_time(timestamp)} {level.upper():<7} {logger} {printable(message)}"


def printable(text: str) -> str:
    """`text` with what is not printable escaped (`\\n`, `\\x1b`): a path a client sent
    (`/%0A...`, decoded) can neither forge a line of the text log nor drive the terminal it is
    read on. JSON lines escape it already."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


class AccessLog:
    """One line per request, in the format of every other line, written straight to stdout.

    It skips the logging machinery (record, filter, handler lock, formatter), which made each line
    cost three times as much. The JSON is written from a template: the method is an HTTP token, the
    request id is a sane or generated one (app.middleware), the client an address and the status
    and duration numbers, so only the path needs escaping. tests/unit/test_middleware.py parses it.
    """

    def __init__(self, fmt: str) -> None:
        self.json = fmt == "json"
        self.second = -1
        self.prefix = ""

    def write(
        self, method: str, path: str, status: int, duration_ms: float, client: str | None, rid: str
    ) -> None:
        now = time.time()
        message = f"{method} {path} {status}"
        if self.json:
            line = (
                f'{{"time": "{self.timestamp(now)}", "level": "info", "logger": "app.access", '
                f'"message": {json.dumps(message)}, "request_id": "{rid}", "method": "{method}", '
                f'"path": {json.dumps(path)}, "status": {status}, "duration_ms": {duration_ms}, '
                f'"client": {json.dumps(client)}}}'
            )
        else:
            line = f"{text_line(now, 'info', 'app.access', message)} [{rid}]"
        sys.stdout.write(line + "\n")

    def timestamp(self, now: float) -> str:
        """utc_time(now), with the part up to the second computed once a second."""
        second = int(now)
        if second != self.second:
            self.second = second
            self.prefix = utc_time(second)[:19]
        return f"{self.prefix}.{int((now - second) * 1000):03d}+00:00"


def config(level: str, fmt: str) -> dict[str, Any]:
    """A `logging.dictConfig` for uvicorn's `log_config`: every logger to one stdout handler."""
    formatter = JsonFormatter if fmt == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"default": {"()": formatter}},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "default",
                "filters": ["request_id"],
            }
        },
        "root": {"handlers": ["stdout"], "level": level.upper()},
        # uvicorn's loggers propagate to the root; its access log is replaced by ours (AccessLog).
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": False},
        },
    }
