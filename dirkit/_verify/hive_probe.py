"""Connect to HiveServer2 with PyHive (Kerberos), report `current_user()` and run a probe.

Run as a child process by `dirkit verify`: PyHive's SASL layer (pure-sasl + pykerberos) only
uses the process's default credential cache, so each user's check runs in its own process
with KRB5CCNAME pointing at that user's private cache, and a hard timeout can kill it.

    KRB5CCNAME=FILE:/private/cc python -m dirkit._verify.hive_probe HOST PORT SERVICE [PROBE_SQL]
Prints one JSON object: {"current_user": ..., "probe_rows": ...} or {"error": ...}.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def probe(host: str, port: int, service: str, sql: str | None) -> dict[str, Any]:
    from pyhive import hive

    conn = hive.connect(host=host, port=port, auth="KERBEROS", kerberos_service_name=service)
    try:
        cur = conn.cursor()
        cur.execute("SELECT current_user()")
        out: dict[str, Any] = {"current_user": cur.fetchone()[0]}
        if sql:
            cur.execute(sql)
            out["probe_rows"] = len(cur.fetchall())
        return out
    finally:
        conn.close()


def main(argv: list[str]) -> int:
    host, port, service = argv[0], int(argv[1]), argv[2]
    sql = argv[3] if len(argv) > 3 else None
    try:
        print(json.dumps(probe(host, port, service, sql)))
        return 0
    except Exception as exc:  # noqa: BLE001 - reported to the parent as data
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"[:500]}))
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
