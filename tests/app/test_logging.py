"""The JSON log lines: one object per line, whatever the values; the access log's quick path."""

from __future__ import annotations

import io
import json
import logging

import pytest

from app.logging import JsonFormatter, log_quickly, request_id_var


def _line(record: logging.LogRecord, formatter: JsonFormatter | None = None) -> dict[str, object]:
    text = (formatter or JsonFormatter()).format(record)
    assert "\n" not in text
    doc = json.loads(text)
    assert isinstance(doc, dict)
    return doc


def _record(created: float, **extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord(
        {"name": "t", "levelno": logging.INFO, "levelname": "INFO", "msg": "m %s", "args": ("x",)}
    )
    record.created, record.msecs = created, (created % 1) * 1000
    record.__dict__.update(extra)
    return record


def test_time_stamps_follow_the_record_across_seconds() -> None:
    formatter = JsonFormatter()
    assert _line(_record(0.25), formatter)["time"] == "1970-01-01T00:00:00.250Z"
    assert _line(_record(0.5), formatter)["time"] == "1970-01-01T00:00:00.500Z"
    assert _line(_record(61.0625), formatter)["time"] == "1970-01-01T00:01:01.062Z"


def test_extras_of_any_type_are_written() -> None:
    doc = _line(_record(1.0, status=200, big=2**70, odd={1: "a"}, obj=object(), text="ünï\n"))
    assert doc["message"] == "m x" and doc["status"] == 200 and doc["text"] == "ünï\n"
    assert doc["big"] == 2**70  # past orjson's 64 bits: the standard encoder writes the line
    assert isinstance(doc["obj"], str)


@pytest.mark.parametrize("text", ["/v1/runs/a\u2028b", "x\u0085y\u2029z\x1c", "ünï", "plain"])
def test_a_line_is_one_ascii_line_whatever_the_text(text: str) -> None:
    line = JsonFormatter().format(_record(1.0, path=text))
    assert line.isascii() and len(line.splitlines()) == 1
    assert json.loads(line)["path"] == text


def test_log_quickly_writes_what_log_would_with_the_request_id() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.quick")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    token = request_id_var.set("rid-1")
    try:
        log_quickly(logger, logging.INFO, "%s %d", "GET", 200, extra={"ms": 1.5})
        log_quickly(logger, logging.DEBUG, "hidden", extra={})
    finally:
        request_id_var.reset(token)
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    doc = json.loads(lines[0])
    assert doc["message"] == "GET 200" and doc["request_id"] == "rid-1" and doc["ms"] == 1.5
    assert doc["logger"] == "test.quick" and doc["level"] == "info"
