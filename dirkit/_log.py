"""One line per event, as ``event key=value ...`` text or as JSON lines (for log shippers)."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: Any) -> None:
    logger.log(level, name, extra={"fields": fields})


def _fmt(v: Any) -> str:
    s = str(v)
    return json.dumps(s, ensure_ascii=False) if (not s or any(c in s for c in ' ="\n')) else s


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(record.created))
        kv = " ".join(f"{k}={_fmt(v)}" for k, v in fields.items())
        return f"{ts} {record.levelname:<7} {record.getMessage()}" + (f" {kv}" if kv else "")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        return json.dumps(out, ensure_ascii=False, default=str)


def setup(fmt: str = "text", verbose: bool = False, quiet: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger("dirkit")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.ERROR if quiet else logging.INFO)
    root.propagate = False
