"""Logging setup: one line per event, optionally JSON, with secrets redacted."""
from __future__ import annotations

import json
import logging
import re

_REDACTIONS = [
    (re.compile(r"(?i)(authorization\"?'?\s*[:=]\s*\"?'?)(basic|bearer)\s+[^\s\"',]+"), r"\1\2 [redacted]"),
    (re.compile(r"(?i)((?:password|passwd|token|secret|access_token)\"?'?\s*[:=]\s*\"?'?)[^\s\"'&,}]+"),
     r"\1[redacted]"),
    (re.compile(r"(/hooks/[a-z]+/\d+/)[A-Za-z0-9_\-]+"), r"\1[redacted]"),
    (re.compile(r"(://[^/\s:@]+:)[^@\s/]+@"), r"\1[redacted]@"),
]


def redact(text: str) -> str:
    for pattern, repl in _REDACTIONS:
        text = pattern.sub(repl, text)
    return text


def _redacted_record_factory(factory):
    """Records come out of `factory` with their message already redacted: every handler sees it
    clean (gunicorn's access log too, whose URLs carry webhook tokens), whatever its formatter."""
    def make(*args, **kwargs):
        record = factory(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed log call is the formatter's to report
            return record
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return record
    make.berth_redacting = True
    return make


class RedactingFormatter(logging.Formatter):
    def format(self, record):
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    def format(self, record):
        data = {"time": self.formatTime(record), "level": record.levelname,
                "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(data))


def configure_logging(fmt: str) -> None:
    if not getattr(logging.getLogRecordFactory(), "berth_redacting", False):
        logging.setLogRecordFactory(_redacted_record_factory(logging.getLogRecordFactory()))
    root = logging.getLogger()
    for handler in root.handlers:
        if getattr(handler, "_berth", False):
            return
    handler = logging.StreamHandler()
    handler._berth = True
    handler.setFormatter(JsonFormatter() if fmt == "json" else RedactingFormatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    if root.level == logging.WARNING:
        root.setLevel(logging.INFO)
