import json
import logging

from dirkit._log import JsonFormatter, TextFormatter


def _record(**fields: object) -> logging.LogRecord:
    rec = logging.LogRecord("dirkit", logging.INFO, __file__, 1, "read", None, None)
    rec.fields = fields
    return rec


def test_text_is_one_line_with_quoted_values() -> None:
    line = TextFormatter().format(_record(users=3, dn="CN=a b,DC=x", detail="x\ny"))
    assert "\n" not in line and 'dn="CN=a b,DC=x"' in line and "users=3" in line


def test_json_line() -> None:
    data = json.loads(JsonFormatter().format(_record(users=3)))
    assert data["event"] == "read" and data["users"] == 3 and data["level"] == "info"
